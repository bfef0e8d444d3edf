"""The worker process: a supervisor that keeps this process's fair share of the partitions.

Every `worker_heartbeat_ms` it records its heartbeat, reads the live workers, and computes
the assignment (`worker/ownership.py`). For each partition it gains it starts a writer that
first takes the partition's lease (`worker/lease.py`: waiting while the previous owner still
holds it) and only then consumes, on a broker connection of its own. For each partition it
loses it stops the writer, which commits and acknowledges its batch, closes its channel and
connection (the broker returns what it held, in order, to the next consumer) and only then
releases the lease. Events and replies go out on one confirming channel of the process's own
connection.

A writer that fails ends alone: its connection closes (what it held goes back to the queue),
one line is logged, and its partition gets a new writer after `writer_restart_backoff_ms`,
doubling with each failure in a row up to `writer_restart_backoff_max_ms`. Only a broken
invariant of the ledger (InvariantViolation) stops the process, to exit non-zero, so that its
supervisor (compose, systemd: docs/operations/) starts it again."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import traceback
from dataclasses import dataclass

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.amqp import broker
from shared.database import CONNECTION_ERRORS, check_deployment, create_pool
from shared.errors import BrokerUnavailable, InvariantViolation, Unavailable
from shared.ids import new_id
from shared.redis.status_cache import StatusCache
from shared.settings import Settings
from worker import delivery, ownership
from worker.lease import PartitionLease
from worker.writer import PartitionWriter

log = logging.getLogger(__name__)
ERROR_CHAIN_DEPTH_MAX = 16  # causes and contexts looked through for an InvariantViolation


@dataclass
class Shared:
    """What every writer of this process uses."""

    settings: Settings
    worker_id: str
    cache: StatusCache
    announce: AbstractChannel  # confirming: events and replies (worker/outbox.py)


@dataclass
class Running:
    """A writer task of this process and the event that asks it to let go."""

    task: asyncio.Task[None]
    stop: asyncio.Event
    started_s: float


@dataclass
class Backoff:
    """A partition whose writer failed: how many times in a row, and when the next may start."""

    failures: int
    start_at_s: float


def tune_garbage_collector(settings: Settings) -> None:
    """Collect the youngest generation every `gc_threshold_allocations` net allocations; the
    older generations keep Python's thresholds. For the whole process: `cloudwallet run` serves
    the gateway from the same one."""
    if settings.gc_threshold_allocations:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold_allocations, middle, oldest)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Write this process's share of the partitions until `stop` is set; a writer that breaks an
    invariant stops the process, raising InvariantViolation (its unacknowledged messages return
    to the queues)."""
    tune_garbage_collector(settings)
    pool = await create_pool(settings, size_max=2, application_name="cloudwallet-worker")
    cache = StatusCache.open(settings)
    connection = await broker.connect(settings, name="cloudwallet-worker")
    worker_id = new_id()
    try:
        async with pool.acquire() as database_connection:
            await check_deployment(database_connection, settings)
        setup = await connection.channel()
        await broker.declare_topology(setup, settings)
        await setup.close()
        announce = await connection.channel(publisher_confirms=True)
        shared = Shared(settings, worker_id, cache, announce)
        log.info("worker %s started", worker_id)
        await _supervise(shared, pool, stop)
    finally:
        with contextlib.suppress(*CONNECTION_ERRORS):
            async with pool.acquire() as database_connection:
                await ownership.leave(database_connection, worker_id)
        await connection.close()
        await cache.close()
        await pool.close()


async def _supervise(shared: Shared, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    running: dict[int, Running] = {}
    leases: dict[int, PartitionLease] = {}
    backoffs: dict[int, Backoff] = {}
    consuming: frozenset[int] = frozenset()
    settings = shared.settings
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            wanted = await _wanted(shared, pool)
            if wanted is not None and wanted != consuming:
                log.info("worker consuming %s partitions: %s", len(wanted), sorted(wanted))
                consuming = wanted
            if wanted is not None:
                for partition in sorted(wanted - running.keys()):
                    backoff = backoffs.get(partition)
                    if backoff is not None and loop.time() < backoff.start_at_s:
                        continue
                    lease = PartitionLease(settings, partition, shared.worker_id)
                    leases[partition] = lease
                    running[partition] = _start(shared, lease)
                for partition in sorted(running.keys() - wanted):
                    running[partition].stop.set()
            for partition, writer in list(running.items()):
                if writer.task.done():
                    del running[partition], leases[partition]
                    _writer_ended(partition, writer, backoffs, settings)
            await asyncio.gather(*(lease.keep_alive() for lease in leases.values()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.worker_heartbeat_ms / 1000)
    finally:
        for writer in running.values():
            writer.stop.set()
        ended = [writer.task for writer in running.values()]
        for outcome in await asyncio.gather(*ended, return_exceptions=True):
            violation = _invariant_violation(outcome) if outcome is not None else None
            if violation is not None:
                raise violation


def _writer_ended(
    partition: int, writer: Running, backoffs: dict[int, Backoff], settings: Settings
) -> None:
    """Raise the InvariantViolation that ended a writer, to stop the process. Any other error
    is logged in one line, and holds the partition's next writer back: twice as long after
    each failure in a row, counted afresh when the writer had run longer than the longest
    wait. A writer that returned (asked to stop) may start again at once."""
    error = None if writer.task.cancelled() else writer.task.exception()
    if error is None:
        backoffs.pop(partition, None)
        return
    violation = _invariant_violation(error)
    if violation is not None:
        raise violation
    now_s = asyncio.get_running_loop().time()
    backoff_max_ms = settings.writer_restart_backoff_max_ms
    previous = backoffs.get(partition)
    fresh = previous is None or (now_s - writer.started_s) * 1000 >= backoff_max_ms
    failures = 1 if previous is None or fresh else previous.failures + 1
    delay_ms = min(settings.writer_restart_backoff_ms * 2 ** min(failures - 1, 16), backoff_max_ms)
    backoffs[partition] = Backoff(failures, now_s + delay_ms / 1000)
    log.log(
        logging.WARNING if isinstance(error, Unavailable) else logging.ERROR,
        "partition %s: the writer ended (%s); a new one in %s ms (failure %s in a row)",
        partition,
        one_line(error),
        delay_ms,
        failures,
    )


def _invariant_violation(error: BaseException) -> InvariantViolation | None:
    """The InvariantViolation among `error`, its causes and contexts, if any."""
    found: BaseException | None = error
    for _ in range(ERROR_CHAIN_DEPTH_MAX):
        if found is None or isinstance(found, InvariantViolation):
            return found
        found = found.__cause__ or found.__context__
    return None


def one_line(error: BaseException) -> str:
    """An error as one log line: itself, its cause, and where the first of them was raised."""
    origin = error.__cause__ or error
    frames = traceback.extract_tb(origin.__traceback__)
    cause = f" from {error.__cause__!r}" if error.__cause__ is not None else ""
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{error!r}{cause}{where}"


async def _wanted(shared: Shared, pool: asyncpg.Pool) -> frozenset[int] | None:
    """This process's share, or None while the database cannot say (keep what is held: the
    leases fence the writers whatever the assignment)."""
    try:
        async with pool.acquire() as connection:
            live = await ownership.heartbeat(
                connection, shared.worker_id, shared.settings.worker_timeout_ms
            )
    except CONNECTION_ERRORS as error:
        log.warning("worker %s: heartbeat failed (%s)", shared.worker_id, type(error).__name__)
        return None
    shares = ownership.assign(shared.settings.partition_count, live)
    return shares.get(shared.worker_id, frozenset())


def _start(shared: Shared, lease: PartitionLease) -> Running:
    writer_stop = asyncio.Event()
    settings = shared.settings

    async def write() -> None:
        connection: AbstractRobustConnection | None = None
        try:
            if not await lease.take(writer_stop):
                return
            connection = await _connect(
                settings, f"cloudwallet-writer-{lease.partition}", writer_stop
            )
            if connection is None:
                return
            writer = PartitionWriter(
                lease.partition, settings, lease, shared.cache, connection, shared.announce
            )
            log.info("partition %s: writing", lease.partition)
            await writer.run(writer_stop)
        except asyncio.CancelledError as error:
            # A call cancelled by aio-pika when a channel closed under the writer, or by aiormq
            # when the connection stalled: no request to stop, a broker failure.
            if not broker.is_broker_loss(error):
                raise
            raise BrokerUnavailable("the broker channel closed under the writer") from error
        finally:
            if connection is not None:
                await _close(connection, settings)
            await lease.release()

    started_s = asyncio.get_running_loop().time()
    return Running(asyncio.create_task(write()), writer_stop, started_s)


async def _connect(
    settings: Settings, name: str, stop: asyncio.Event
) -> AbstractRobustConnection | None:
    """A broker connection of the writer's own, retried every `amqp_reconnect_interval_ms`
    while the broker is away; None if `stop` is set first. Each writer consumes on its own
    connection, so that one whose channel stalls (aiormq stops reading a connection when one
    channel's frame buffer is full, which a channel closing with many deliveries in flight can
    cause) holds up that writer alone, never the events or the other partitions."""
    while not stop.is_set():
        try:
            with broker.broker_errors():
                return await broker.connect(
                    settings, name=name, connection_class=delivery.WriterConnection
                )
        except BrokerUnavailable as error:
            log.warning("%s: cannot reach the broker (%r)", name, error.__cause__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.amqp_reconnect_interval_ms / 1000)
    return None


async def _close(connection: AbstractRobustConnection, settings: Settings) -> None:
    """Close a writer's connection, waiting at most `broker_close_timeout_ms`: whatever the
    broker still held for it goes back to the queue when the socket closes."""
    try:
        async with asyncio.timeout(settings.broker_close_timeout_ms / 1000):
            with broker.broker_errors():
                await connection.close()
    except (TimeoutError, BrokerUnavailable) as error:
        cause = error.__cause__ if isinstance(error, BrokerUnavailable) else error
        log.warning("closing a writer's broker connection: %r", cause)
