"""Fixtures of the fault suite: its own database and RabbitMQ virtual host (so that no other
suite's consumer takes part in a failover), processes stopped at the end of each test, and the
scenario summaries printed at the end of the run.

`CLOUDWALLET_FAULTS_SOAK=1` runs the longer soak variants (more load, more rounds of each fault)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from shared.amqp.broker import DEAD_LETTER_QUEUE
from shared.contract.partition import queue_name
from shared.settings import Settings
from tests.faults.outcome import SUMMARIES
from tests.faults.processes import Processes
from tests.support import (
    AMQP_SERVER,
    DATABASE_SERVER,
    NAMESPACE,
    ensure_topology,
    ensure_vhost,
    namespace_settings,
    server_url,
)

SOAK = os.environ.get("CLOUDWALLET_FAULTS_SOAK") == "1"
LOAD_SCALE = 10 if SOAK else 1  # how much longer the load runs in a soak
ROUNDS = 4 if SOAK else 1  # how many more times each fault is injected in a soak
LOG_TAIL_LINES = 40


def fault_namespace_settings(**overrides: Any) -> Settings:
    """The fault suite's namespace, with timeouts short enough for failovers in seconds."""
    values: dict[str, Any] = {
        "database_url": server_url(DATABASE_SERVER, f"cloudwallet_{NAMESPACE}_faults"),
        "amqp_url": server_url(AMQP_SERVER, f"cloudwallet-{NAMESPACE}-faults"),
        "amqp_heartbeat_s": 2,
        "amqp_reconnect_interval_ms": 300,
        "database_idle_in_transaction_timeout_ms": 2000,
        "database_lock_timeout_ms": 1000,
        "batch_retry_backoff_ms": 50,
        "batch_retry_backoff_max_ms": 500,
    }
    values.update(overrides)
    return namespace_settings(**values)


async def purge(settings: Settings, queues: list[str]) -> None:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        for name in queues:
            queue = await channel.declare_queue(name, passive=True)
            await queue.purge()
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def fault_settings() -> Settings:
    from shared.database import migrate

    settings = fault_namespace_settings()
    await asyncio.to_thread(ensure_vhost, settings)
    await ensure_topology(settings)
    await migrate(settings)
    return settings


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
async def processes(
    fault_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Processes]:
    # Each test starts from empty queues: what a failed test left behind is not its concern.
    queues = [queue_name(partition) for partition in range(fault_settings.partition_count)]
    await purge(fault_settings, [*queues, DEAD_LETTER_QUEUE])
    started = Processes(fault_settings, tmp_path)
    yield started
    await started.stop_all()
    if request.node.stash.get(FAILED, False):
        for process in started.started:
            tail = process.log().splitlines()[-LOG_TAIL_LINES:]
            print(f"--- {process.label} (exit {process.popen.returncode}) ---", *tail, sep="\n")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session of the test's own, so no keep-alive connection outlives its gateway."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARIES:
        terminalreporter.section("fault scenarios")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
