"""Real `cloudwallet gateway`, `worker` and `webhooks` processes for the fault tests: start
them, signal them, wait for them (never blocking the event loop that runs the load and the
proxies), read their logs, and stop every one of them at the end."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from shared.settings import Settings
from tests.processes import SHUTDOWN_TIMEOUT_S, STARTUP_TIMEOUT_S, free_port, start_cloudwallet

REPLAY_LINE = re.compile(
    r"batch of (\d+): (\d+) redelivered \(delivery count up to (\d+)\), (\d+) already applied"
)


@dataclass
class Replays:
    """What the workers' logs say about redeliveries."""

    redelivered: int = 0
    already_applied: int = 0
    delivery_count_max: int = 0


@dataclass
class Process:
    label: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, number: signal.Signals) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(number)

    async def wait_exit(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> int:
        return await asyncio.to_thread(self.popen.wait, timeout_s)

    async def stop(self) -> int:
        """SIGTERM (after SIGCONT, in case it is stopped), then SIGKILL if it lingers."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                await self.wait_exit()
            except subprocess.TimeoutExpired:
                self.popen.kill()
                await self.wait_exit()
        return int(self.popen.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_log(self, text: str, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while text not in self.log():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.popen.returncode}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{self.label} did not log {text!r} in {timeout_s} s")
            await asyncio.sleep(0.05)


class Processes:
    """Every process one test starts; `stop_all` ends them."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.started: list[Process] = []

    def _start(self, command: str, label: str, settings: Settings, env: dict[str, str]) -> Process:
        log_path = self.log_dir / f"{label}.log"
        popen = start_cloudwallet(command, settings, log_path, env)
        process = Process(label, popen, log_path)
        self.started.append(process)
        return process

    async def worker(
        self, label: str, settings: Settings | None = None, *, ready: bool = True, **env: str
    ) -> Process:
        process = self._start("worker", label, settings or self.settings, env)
        if ready:
            await process.wait_for_log("worker consuming")
        return process

    def webhooks(self, label: str, settings: Settings | None = None, **env: str) -> Process:
        """`cloudwallet webhooks`: the webhook sender alone."""
        return self._start("webhooks", label, settings or self.settings, env)

    async def gateway(
        self,
        session: aiohttp.ClientSession,
        label: str = "gateway",
        settings: Settings | None = None,
    ) -> tuple[Process, str]:
        chosen = (settings or self.settings).model_copy(update={"http_port": free_port()})
        process = self._start("gateway", label, chosen, {})
        url = f"http://127.0.0.1:{chosen.http_port}"
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{label} exited with {process.popen.returncode}")
            try:
                async with session.get(url + "/health") as response:
                    if response.status == 200:
                        return process, url
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{label} did not become healthy in time")

    def replays(self) -> Replays:
        """Sum the workers' replay lines."""
        found = Replays()
        for process in self.started:
            if not process.label.startswith("worker"):
                continue
            for match in REPLAY_LINE.finditer(process.log()):
                found.redelivered += int(match[2])
                found.delivery_count_max = max(found.delivery_count_max, int(match[3]))
                found.already_applied += int(match[4])
        return found

    async def stop_all(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.started))
