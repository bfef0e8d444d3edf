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
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from shared.amqp import broker
from shared.database import CONNECTION_ERRORS, check_deployment, create_pool, database_url
from shared.ids import new_id
from shared.logs import flush_hot_logs
from shared.redis.status_cache import StatusCache
from shared.services import POSTGRESQL, RABBITMQ, REDIS, reported, until_reached
from shared.settings import Settings
from shared.tracing import WORKER_SCOPE, tracer
from worker import ownership, webhooks
from worker.metrics import WorkerMetrics
from worker.monitor import Monitor
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
    to the queues). PostgreSQL or the broker down at start is waited for (one line logged,
    another try every `dependency_retry_ms`), with /ready naming it meanwhile
    (worker/monitor.py)."""
    traces = tracer(settings, WORKER_SCOPE)  # ConfigurationError before anything is opened
    tune_garbage_collector(settings)
    worker_id = new_id()
    metrics = WorkerMetrics()
    monitor = Monitor(settings, metrics)
    # Each resource is closed if anything after it fails, in the reverse order of opening: the
    # leave first, the pool last.
    async with contextlib.AsyncExitStack() as resources:
        await resources.enter_async_context(monitor.serving())
        pool = await create_pool(
            settings, size_max=2, size_min=0, application_name="cloudwallet-worker"
        )
        resources.push_async_callback(pool.close)
        monitor.pool = pool
        cache = StatusCache.open(settings)
        resources.push_async_callback(cache.close)
        monitor.cache = cache
        retry_ms = settings.dependency_retry_ms
        # Redis is not waited for (the writers cache states best effort), only said in a line.
        redis_url = settings.redis_url.get_secret_value()
        greeting = asyncio.create_task(
            reported(until_reached(REDIS, redis_url, cache.ping, stop, retry_ms))
        )
        resources.push_async_callback(_cancelled, greeting)

        async def check() -> bool:
            async with pool.acquire() as database_connection:
                await check_deployment(database_connection, settings)
            return True

        if not await until_reached(POSTGRESQL, database_url(settings), check, stop, retry_ms):
            return
        monitor.deployment_checked = True
        if settings.webhook_delivery:  # beside the writers, on a pool of its own
            sending = asyncio.create_task(
                webhooks.deliver(
                    settings, stop, metrics.webhook_attempts, _writers_busy(settings, metrics)
                )
            )
            resources.push_async_callback(_cancelled, sending)

        async def connect() -> AbstractRobustConnection:
            return await broker.connect(settings, name="cloudwallet-worker")

        amqp_url = settings.amqp_url.get_secret_value()
        connection = await until_reached(RABBITMQ, amqp_url, connect, stop, retry_ms)
        if connection is None:
            return
        resources.push_async_callback(connection.close)
        monitor.connection = connection
        resources.push_async_callback(_leave, pool, worker_id)
        setup = await connection.channel()
        await broker.declare_topology(setup, settings)
        await setup.close()
        announce = await connection.channel(publisher_confirms=True)
        supervisor = Supervisor(Shared(settings, worker_id, cache, announce, metrics, traces), pool)
        monitor.partitions = supervisor.consuming
        refreshing = asyncio.create_task(monitor.refresh(stop))
        resources.push_async_callback(_cancelled, refreshing)
        resources.callback(flush_hot_logs)
        log.info("worker %s started", worker_id)
        await supervisor.run(stop)


def _writers_busy(settings: Settings, metrics: WorkerMetrics) -> Callable[[], bool] | None:
    """Whether a writer of this process committed a full batch within the last
    `webhook_defer_to_writers_ms` (its queue has a backlog): the sender beside them then claims
    nothing, so that deliveries wait for the backlog rather than slow it
    (docs/decisions/0022-webhooks.md). None when the setting is 0."""
    window_s = settings.webhook_defer_to_writers_ms / 1000
    if not window_s:
        return None
    return lambda: time.monotonic() - metrics.full_batch_at_s < window_s


async def run_webhooks(settings: Settings, stop: asyncio.Event) -> None:
    """The `cloudwallet webhooks` process: only the webhook sender, for deployments that run it
    apart from the workers (CLOUDWALLET_WEBHOOK_DELIVERY=false on those). It waits for
    PostgreSQL and checks the deployment first, as a worker does."""
    pool = await create_pool(settings, size_max=1, size_min=0, application_name="cloudwallet")
    try:

        async def check() -> bool:
            async with pool.acquire() as database_connection:
                await check_deployment(database_connection, settings)
            return True

        retry_ms = settings.dependency_retry_ms
        if not await until_reached(POSTGRESQL, database_url(settings), check, stop, retry_ms):
            return
    finally:
        await pool.close()
    log.info("webhook sender started")
    await webhooks.deliver(settings, stop)


async def _cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _leave(pool: asyncpg.Pool, worker_id: str) -> None:
    """Tell the other workers at once that this one is gone, if the database is there."""
    with contextlib.suppress(*CONNECTION_ERRORS):
        async with pool.acquire() as database_connection:
            await ownership.leave(database_connection, worker_id)
