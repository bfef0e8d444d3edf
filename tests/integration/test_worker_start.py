"""A worker that cannot start leaves nothing open: with its broker down, the PostgreSQL pool
it opened first is closed before the error reaches its caller. On the real PostgreSQL (a
database of the test's own, so that its sessions can be counted) and Redis, with a broker
address where nothing listens."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import asyncpg
import pytest

from shared.settings import Settings
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


async def test_a_worker_whose_broker_is_down_at_start_closes_its_database_pool(
    settings: Settings, closed_port: int
) -> None:
    url = settings.database_url.get_secret_value()
    admin = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await admin.execute(f'CREATE DATABASE "{DATABASE}"')
        worker_settings = namespace_settings(
            database_url=url.rsplit("/", 1)[0] + f"/{DATABASE}",
            amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port}/cloudwallet-{NAMESPACE}",
            gc_threshold_allocations=0,  # the test process's collector is left as it is
        )
        with pytest.raises(ConnectionError):
            await run_worker(worker_settings, asyncio.Event())
        assert await sessions(admin) == 0
    finally:
        await admin.close()
