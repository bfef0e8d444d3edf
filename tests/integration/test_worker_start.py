"""A worker whose broker is down at start waits for it, says so on /ready (503 naming
RabbitMQ, while PostgreSQL and Redis answer), and once stopped leaves nothing open: the
PostgreSQL pool it opened first is closed. On the real PostgreSQL (a database of the test's
own, so that its sessions can be counted) and Redis, with a broker address where nothing
listens."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import aiohttp
import asyncpg
import pytest

from shared.database import migrate
from shared.settings import Settings
from tests.processes import free_port
from tests.support import NAMESPACE, namespace_settings
from worker.main import run_worker

DATABASE = f"cloudwallet_{NAMESPACE}_worker_start"
POLLS_MAX = 500
POLL_S = 0.01


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 where nothing listens while the test runs: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


async def sessions(admin: asyncpg.Connection) -> int:
    """The sessions open on the test's database once those closing have gone, at most
    `POLLS_MAX` polls later."""
    count = 0
    for _ in range(POLLS_MAX):
        count = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", DATABASE
        )
        if count == 0:
            break
        await asyncio.sleep(POLL_S)
    return int(count)


async def not_ready(port: int) -> dict[str, object]:
    """The worker's first 503 from /ready, at most `POLLS_MAX` polls later."""
    async with aiohttp.ClientSession() as session:
        for _ in range(POLLS_MAX):
            try:
                async with session.get(f"http://127.0.0.1:{port}/ready") as response:
                    if response.status == 503:
                        body: dict[str, object] = await response.json()
                        return body
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(POLL_S)
    raise AssertionError("the worker's /ready never answered 503")


async def test_a_worker_whose_broker_is_down_at_start_waits_reports_it_and_closes_its_pool(
    settings: Settings, closed_port: int
) -> None:
    url = settings.database_url.get_secret_value()
    admin = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
    metrics_port = free_port()
    try:
        worker_settings = namespace_settings(
            database_url=url.rsplit("/", 1)[0] + f"/{DATABASE}",
            amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port}/cloudwallet-{NAMESPACE}",
            gc_threshold_allocations=0,  # the test process's collector is left as it is
            worker_metrics_port=metrics_port,
            dependency_retry_ms=50,
        )
        await migrate(worker_settings)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(worker_settings, stop))
        try:
            body = await not_ready(metrics_port)
        finally:
            stop.set()
            await asyncio.wait_for(worker, timeout=10)
        error = body["error"]
        assert isinstance(error, dict)
        assert error["code"] == "NotReady"
        assert "RabbitMQ" in error["message"]
        services = error["details"]["services"]
        assert services["postgresql"] == "ok"
        assert services["redis"] == "ok"
        assert services["rabbitmq"] != "ok"
        assert await sessions(admin) == 0
    finally:
        await admin.close()
