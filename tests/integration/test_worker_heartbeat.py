"""A worker's heartbeat that PostgreSQL cancels (an operator's pg_cancel_backend) is waited out
as a lost connection is: logged, tried again at the next heartbeat, and it never ends the
supervisor (docs/decisions/0012-broker-loss-and-writer-failures.md). On the real PostgreSQL:
the heartbeat waits for a row lock the test holds, and is cancelled there."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from shared.database import connect, create_pool
from shared.ids import new_id
from shared.settings import Settings
from worker.supervisor import Shared, Supervisor

POLLS_MAX = 1_000
POLL_S = 0.01
STOP_TIMEOUT_S = 10


async def lock_waiter(operator: asyncpg.Connection, application_name: str) -> int:
    """The process id of the session named `application_name`, once it waits for a lock."""
    for _ in range(POLLS_MAX):
        pid: int | None = await operator.fetchval(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = $1 AND wait_event_type = 'Lock'",
            application_name,
        )
        if pid is not None:
            return pid
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"{application_name} never waited for the lock")


async def test_a_heartbeat_cancelled_by_an_operator_does_not_end_the_supervisor(
    migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    worker_id = new_id()
    application_name = f"test-heartbeat-{worker_id}"
    operator = await connect(migrated, application_name="test-heartbeat-operator")
    pool = await create_pool(migrated, size_max=1, application_name=application_name)
    stop = asyncio.Event()
    running: asyncio.Task[None] | None = None
    # The worker's row, neither live nor old enough for the suite's own worker to forget it,
    # locked by the operator, so that this worker's heartbeat waits.
    await operator.execute(
        "INSERT INTO workers (id, heartbeat_at) VALUES ($1, now() - make_interval(secs => $2))",
        worker_id,
        migrated.worker_timeout_ms / 1000 * 2,
    )
    locking = operator.transaction()
    await locking.start()
    try:
        await operator.execute("SELECT 1 FROM workers WHERE id = $1 FOR UPDATE", worker_id)
        # The heartbeat never answers, so no writer starts: no status cache nor channel needed.
        shared = Shared(migrated, worker_id, None, None)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="worker.supervisor"):
            running = asyncio.create_task(Supervisor(shared, pool).run(stop))
            pid = await lock_waiter(operator, application_name)
            assert await operator.fetchval("SELECT pg_cancel_backend($1)", pid)
            stop.set()
            await asyncio.wait_for(running, timeout=STOP_TIMEOUT_S)
        assert f"worker {worker_id}: heartbeat failed (QueryCanceledError)" in caplog.text
    finally:
        stop.set()
        await locking.rollback()
        if running is not None:
            await asyncio.wait([running], timeout=STOP_TIMEOUT_S)
        await operator.execute("DELETE FROM workers WHERE id = $1", worker_id)
        await pool.close()
        await operator.close()
