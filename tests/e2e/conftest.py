"""The gateway and the worker as separate `cloudwallet` processes, as in production."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from shared.settings import Settings
from tests.processes import STARTUP_TIMEOUT_S, free_port, start_cloudwallet, stop_process
from tests.support import Api, Ledger, create_tenant_key, new_ledger


def start(
    command: str, settings: Settings, log_path: Path, **extra_env: str
) -> subprocess.Popen[bytes]:
    return start_cloudwallet(command, settings, log_path, extra_env)


def stop(process: subprocess.Popen[bytes]) -> int:
    return stop_process(process)


async def wait_healthy(
    session: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes]
) -> None:
    deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_S
    while asyncio.get_running_loop().time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            async with session.get(url + "/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not become healthy in time")


@pytest.fixture(scope="session")
def process_settings(migrated: Settings) -> Settings:
    return migrated.model_copy(update={"http_port": free_port()})


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="session")
def worker_process(process_settings: Settings, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_cloudwallet("worker", process_settings, log_dir / "worker.log")
    yield process
    stop_process(process)


@pytest.fixture(scope="session")
async def gateway_process_url(
    process_settings: Settings,
    log_dir: Path,
    http_session: aiohttp.ClientSession,
    worker_process: subprocess.Popen[bytes],
) -> AsyncIterator[str]:
    process = start_cloudwallet("gateway", process_settings, log_dir / "gateway.log")
    url = f"http://127.0.0.1:{process_settings.http_port}"
    try:
        await wait_healthy(http_session, url, process)
        yield url
    finally:
        stop_process(process)


@pytest.fixture
async def e2e_api(
    gateway_process_url: str, http_session: aiohttp.ClientSession, process_settings: Settings
) -> Api:
    return Api(http_session, gateway_process_url, await create_tenant_key(process_settings))


@pytest.fixture
async def e2e_ledger(e2e_api: Api) -> Ledger:
    return await new_ledger(e2e_api)
