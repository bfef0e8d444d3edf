"""The worker process: a supervisor that keeps this process's fair share of the partitions.

Every `worker_heartbeat_ms` it records its heartbeat, reads the live workers, and computes
the assignment (`worker/ownership.py`). For each partition it gains it starts a writer that
first takes the partition's lease (`worker/lease.py`: waiting while the previous owner still
holds it) and only then consumes, on a broker connection of its own. For each partition it
loses it stops the writer, which commits and acknowledges its batch, closes its channel and
connection (the broker returns what it held, in order, to the next consumer) and only then
releases the lease. Events and replies go out on one confirming channel of the process's own
connection."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import AMQPError

from shared import broker
from shared.database import CONNECTION_ERRORS, check_deployment, create_pool
from shared.ids import new_id
from shared.settings import Settings
from shared.status_cache import StatusCache
from worker import delivery, ownership
from worker.consumer import PartitionWriter
from worker.delivery import raise_if_cancelling
from worker.lease import PartitionLease

log = logging.getLogger(__name__)
BROKER_CONNECT_ERRORS = (AMQPError, ConnectionError, OSError)


@dataclass
class Shared:
    """What every writer of this process uses."""

    settings: Settings
    worker_id: str
    cache: StatusCache
    announce: AbstractChannel  # confirming: events and replies (worker/consumer.py)


@dataclass
class Running:
    """A writer task of this process and the event that asks it to let go."""

    task: asyncio.Task[None]
    stop: asyncio.Event


def tune_garbage_collector(settings: Settings) -> None:
    """Collect the youngest generation every `gc_threshold_allocations` net allocations; the
    older generations keep Python's thresholds. For the whole process: `cloudwallet run` serves
    the gateway from the same one."""
    if settings.gc_threshold_allocations:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold_allocations, middle, oldest)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Write this process's share of the partitions until `stop` is set; a writer's programmer
    error stops the process (its unacknowledged messages return to the queues)."""
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
    settings = shared.settings
    try:
        while not stop.is_set():
            wanted = await _wanted(shared, pool)
            if wanted is not None and wanted != running.keys():
                log.info("worker consuming %s partitions: %s", len(wanted), sorted(wanted))
            if wanted is not None:
                for partition in sorted(wanted - running.keys()):
                    lease = PartitionLease(settings, partition, shared.worker_id)
                    leases[partition] = lease
                    running[partition] = _start(shared, lease)
                for partition in sorted(running.keys() - wanted):
                    running[partition].stop.set()
            for partition, writer in list(running.items()):
                if writer.task.done():
                    del running[partition], leases[partition]
                    writer.task.result()  # a programmer error stops the process here
            await asyncio.gather(*(lease.keep_alive() for lease in leases.values()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.worker_heartbeat_ms / 1000)
    finally:
        for writer in running.values():
            writer.stop.set()
        await asyncio.gather(*(writer.task for writer in running.values()), return_exceptions=True)


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
            # A call cancelled by aio-pika when a channel closed under the writer: the writer
            # ends here, unacknowledged messages go back to the queue, and the next heartbeat
            # starts a writer for the partition again.
            raise_if_cancelling(error)
            log.warning("partition %s: the broker channel closed under the writer", lease.partition)
        finally:
            if connection is not None:
                await _close(connection, settings)
            await lease.release()

    return Running(asyncio.create_task(write()), writer_stop)


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
            return await broker.connect(
                settings, name=name, connection_class=delivery.WriterConnection
            )
        except BROKER_CONNECT_ERRORS as error:
            log.warning("%s: cannot reach the broker (%s)", name, type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.amqp_reconnect_interval_ms / 1000)
    return None


async def _close(connection: AbstractRobustConnection, settings: Settings) -> None:
    """Close a writer's connection, waiting at most `broker_close_timeout_ms`: whatever the
    broker still held for it goes back to the queue when the socket closes."""
    try:
        async with asyncio.timeout(settings.broker_close_timeout_ms / 1000):
            await connection.close()
    except (TimeoutError, *BROKER_CONNECT_ERRORS) as error:
        log.warning("closing a writer's broker connection: %s", type(error).__name__)
