"""The worker process: it opens what its writers share (the PostgreSQL pool, the status cache,
one broker connection with a confirming channel for events and replies), checks the
deployment, declares the broker's topology, and runs the supervisor (`worker/supervisor.py`),
which keeps this process's share of the partitions, one writer each (`worker/writer.py`).

A writer that fails ends alone, and the supervisor starts a new one. Only a broken invariant of
the ledger (InvariantViolation) stops the process, to exit non-zero, so that its supervisor
(compose, systemd: docs/operations/) starts it again."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

import asyncpg

from shared.amqp import broker
from shared.database import CONNECTION_ERRORS, check_deployment, create_pool
from shared.ids import new_id
from shared.redis.status_cache import StatusCache
from shared.settings import Settings
from worker import ownership
from worker.supervisor import Shared, Supervisor

log = logging.getLogger(__name__)


def tune_garbage_collector(settings: Settings) -> None:
    """Collect the youngest generation every `gc_threshold_allocations` net allocations; the
    older generations keep Python's thresholds. For the whole process: `cloudwallet run` serves
    the gateway from the same one (docs/decisions/0014-garbage-collector-thresholds.md)."""
    if settings.gc_threshold_allocations:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold_allocations, middle, oldest)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Write this process's share of the partitions until `stop` is set; a writer that breaks an
    invariant stops the process, raising InvariantViolation (its unacknowledged messages return
    to the queues)."""
    tune_garbage_collector(settings)
    worker_id = new_id()
    # Each resource is closed if anything after it fails (a broker down at start, say), in the
    # reverse order of opening: the leave first, the pool last.
    async with contextlib.AsyncExitStack() as resources:
        pool = await create_pool(settings, size_max=2, application_name="cloudwallet-worker")
        resources.push_async_callback(pool.close)
        cache = StatusCache.open(settings)
        resources.push_async_callback(cache.close)
        connection = await broker.connect(settings, name="cloudwallet-worker")
        resources.push_async_callback(connection.close)
        resources.push_async_callback(_leave, pool, worker_id)
        async with pool.acquire() as database_connection:
            await check_deployment(database_connection, settings)
        setup = await connection.channel()
        await broker.declare_topology(setup, settings)
        await setup.close()
        announce = await connection.channel(publisher_confirms=True)
        shared = Shared(settings, worker_id, cache, announce)
        log.info("worker %s started", worker_id)
        await Supervisor(shared, pool).run(stop)


async def _leave(pool: asyncpg.Pool, worker_id: str) -> None:
    """Tell the other workers at once that this one is gone, if the database is there."""
    with contextlib.suppress(*CONNECTION_ERRORS):
        async with pool.acquire() as database_connection:
            await ownership.leave(database_connection, worker_id)
