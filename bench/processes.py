"""The processes of a benchmark run: the gateway and the worker as `cloudwallet` subprocesses
that the benchmark starts and stops itself, and a sampler of the CPU time and memory of those
and of the shared servers (PostgreSQL, RabbitMQ, Redis)."""

from __future__ import annotations

import bisect
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.environment import environment_of
from shared.settings import Settings

STARTUP_TIMEOUT_S = 60
SHUTDOWN_TIMEOUT_S = 30
SAMPLE_INTERVAL_S = 0.25
RECONNECT_LOG = "Reconnecting after"  # what aio-pika logs when it reopens a lost connection
SERVER_GROUPS = {"postgres": ("postgres",), "rabbitmq": ("beam.smp",), "redis": ("redis-server",)}


def cloudwallet_command() -> str:
    return str(Path(sys.executable).with_name("cloudwallet"))


@dataclass
class Service:
    """A `cloudwallet gateway|worker` subprocess."""

    role: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, role: str, settings: Settings, log_dir: Path, label: str) -> Service:
        service = cls.launch(role, settings, log_dir, label)
        service.wait_ready(settings)
        return service

    @classmethod
    def launch(cls, role: str, settings: Settings, log_dir: Path, label: str) -> Service:
        """Start the subprocess without waiting for it to be ready (to start several at once)."""
        log_path = log_dir / f"{label}-{role}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [cloudwallet_command(), role],
                env=environment_of(settings),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        return cls(role, process, log_path)

    def wait_ready(self, settings: Settings) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.role} exited; see {self.log_path}")
            if self._ready(settings):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the {self.role} did not start in time; see {self.log_path}")

    def _ready(self, settings: Settings) -> bool:
        if self.role == "worker":
            return b"worker consuming" in self.log_path.read_bytes()
        # Another gateway sharing the port may answer the probe before this one listens.
        if b"gateway listening" not in self.log_path.read_bytes():
            return False
        url = f"http://{settings.http_host}:{settings.http_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float:
        """The process's high-water mark of resident memory (VmHWM) since it started."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def waited_for_cpu_s(self) -> float | None:
        """Seconds the process's threads have spent runnable but waiting for a core since it
        started (`/proc/<pid>/task/*/schedstat`, second field): time lost to a busy machine,
        as opposed to time spent waiting on I/O. None once the process is gone."""
        waited_ns = 0
        try:
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                waited_ns += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return None
        return waited_ns / 1e9

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        return int(self.process.returncode)


@dataclass
class Sampler:
    """Samples the CPU time of named processes, of server groups and of the whole machine
    (`machine`: every core's busy time, so at most 100% per core) in a background thread."""

    pids: dict[str, list[int]] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    samples: list[dict[str, dict[int, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, name: str, *pids: int) -> None:
        """Sample these processes under `name` from now on, their CPU added up."""
        self.pids[name] = list(pids)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.sample()

    def sample(self) -> None:
        found: dict[str, dict[int, float]] = {}
        for name, pids in list(self.pids.items()):
            for pid in pids:
                cpu = _cpu_s(pid)
                if cpu is not None:
                    found.setdefault(name, {})[pid] = cpu
        for process in psutil.process_iter(["name", "cpu_times"]):
            for group, names in SERVER_GROUPS.items():
                if process.info["name"] in names and process.info["cpu_times"] is not None:
                    times = process.info["cpu_times"]
                    found.setdefault(group, {})[process.pid] = times.user + times.system
        found["machine"] = {0: _machine_busy_s()}
        self.times.append(time.time())
        self.samples.append(found)

    def cpu_percent(self, name: str, start_s: float, end_s: float) -> float | None:
        """Average CPU use of `name` over [start_s, end_s] (wall clock), in % of one core,
        between the first and the last sample of that span in which `name` was alive. A
        server's processes that exit within the span take their CPU time with them."""
        start = bisect.bisect_left(self.times, start_s)
        end = bisect.bisect_right(self.times, end_s)
        alive = [index for index in range(start, end) if self.samples[index].get(name)]
        if len(alive) < 2:
            return None
        first, last = alive[0], alive[-1]
        before, after = self.samples[first][name], self.samples[last][name]
        used = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())
        return 100 * used / (self.times[last] - self.times[first])


def start_workers(
    settings: Settings, log_dir: Path, sampler: Sampler, label: str, workers: int
) -> dict[str, Service]:
    """`workers` worker processes, launched together, then waited for."""
    services: dict[str, Service] = {}
    try:
        for number in range(1, workers + 1):
            name = f"worker-{number}"
            services[name] = Service.launch("worker", settings, log_dir, f"{label}-{number}")
            sampler.watch(name, services[name].pid)
        for service in services.values():
            service.wait_ready(settings)
    except BaseException:
        stop_all(services)
        raise
    return services


def stop_all(services: dict[str, Service]) -> dict[str, int]:
    """Stop the processes; the exit codes of those that had exited before being asked."""
    exited = {
        name: int(service.process.returncode)
        for name, service in services.items()
        if service.process.poll() is not None
    }
    for service in services.values():
        service.stop()
    return exited


def reconnects(service: Service) -> int:
    """How often the process's broker connection was lost and reopened, from its log."""
    return service.log_path.read_text(errors="replace").count(RECONNECT_LOG)


def waited_for_cpu_percent(
    before_s: float | None, after_s: float | None, span_s: float
) -> float | None:
    """The share of a span that a process spent runnable but waiting for a core, in %, from
    two readings of `Service.waited_for_cpu_s` (the second may come a little after the span)."""
    if before_s is None or after_s is None:
        return None
    return 100 * (after_s - before_s) / span_s


def _cpu_s(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def _machine_busy_s() -> float:
    """CPU seconds spent on all cores, by every process of the machine, since boot."""
    times = psutil.cpu_times()
    busy = times.user + times.nice + times.system  # guest time is counted in user and nice
    return float(busy + times.irq + times.softirq + times.steal)
