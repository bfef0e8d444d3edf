"""The supervisor of a worker process: it keeps this process's fair share of the partitions
(docs/decisions/0004-partitions-and-ownership.md).

Every `worker_heartbeat_ms` it records its heartbeat, reads the live workers, and computes
the assignment (`worker/ownership.py`). For each partition it gains it starts a writer that
first takes the partition's lease (`worker/lease.py`: waiting while the previous owner still
holds it) and only then consumes, on a broker connection of its own. For each partition it
loses it stops the writer, which commits and acknowledges its batch, closes its channel and
connection (the broker returns what it held, in order, to the next consumer) and only then
releases the lease.

A writer that fails ends alone (docs/decisions/0012-broker-loss-and-writer-failures.md): its
connection closes (what it held goes back to the queue), one line is logged, and its partition
gets a new writer after `writer_restart_backoff_ms`, doubling with each failure in a row up to
`writer_restart_backoff_max_ms`. Only a broken invariant of the ledger (InvariantViolation)
stops the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from dataclasses import dataclass

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.amqp import broker
from shared.database import TRANSIENT_ERRORS
from shared.errors import BrokerUnavailable, InvariantViolation, Unavailable
from shared.redis.status_cache import StatusCache
from shared.settings import Settings
from shared.tracing import Tracer
from worker import intake, ownership
from worker.lease import PartitionLease
from worker.metrics import WorkerMetrics
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
    metrics: WorkerMetrics | None = None
    tracer: Tracer | None = None  # tracing on (shared/tracing.py)


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


class Supervisor:
    """This process's writers, one per partition of its share."""

    def __init__(self, shared: Shared, pool: asyncpg.Pool) -> None:
        self._shared = shared
        self._pool = pool
        self._running: dict[int, Running] = {}
        self._leases: dict[int, PartitionLease] = {}
        self._backoffs: dict[int, Backoff] = {}
        self._consuming: frozenset[int] = frozenset()

    def consuming(self) -> frozenset[int]:
        """The partitions this process writes now."""
        return self._consuming

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the assignment every `worker_heartbeat_ms` until `stop` is set, then stop
        every writer; raises the InvariantViolation that ended a writer."""
        heartbeat_s = self._shared.settings.worker_heartbeat_ms / 1000
        try:
            while not stop.is_set():
                wanted = await _wanted(self._shared, self._pool)
                if wanted is not None:
                    self._follow(wanted)
                self._reap()
                await asyncio.gather(*(lease.keep_alive() for lease in self._leases.values()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=heartbeat_s)
        finally:
            await self._stop_all()

    def _follow(self, wanted: frozenset[int]) -> None:
        """Start a writer for each partition gained (unless a failure holds it back), and ask
        the writer of each partition lost to let go."""
        if wanted != self._consuming:
            log.info("worker consuming %s partitions: %s", len(wanted), sorted(wanted))
            self._consuming = wanted
            if self._shared.metrics is not None:
                self._shared.metrics.partitions.set(len(wanted))
        loop = asyncio.get_running_loop()
        for partition in sorted(wanted - self._running.keys()):
            backoff = self._backoffs.get(partition)
            if backoff is not None and loop.time() < backoff.start_at_s:
                continue
            lease = PartitionLease(self._shared.settings, partition, self._shared.worker_id)
            self._leases[partition] = lease
            self._running[partition] = _start(self._shared, lease)
        for partition in sorted(self._running.keys() - wanted):
            self._running[partition].stop.set()

    def _reap(self) -> None:
        """Forget the writers that ended, and see why each did."""
        for partition, writer in list(self._running.items()):
            if writer.task.done():
                del self._running[partition], self._leases[partition]
                self._writer_ended(partition, writer)

    def _writer_ended(self, partition: int, writer: Running) -> None:
        """Raise the InvariantViolation that ended a writer, to stop the process. Any other error
        is logged in one line, and holds the partition's next writer back: twice as long after
        each failure in a row, counted afresh when the writer had run longer than the longest
        wait. A writer that returned (asked to stop) may start again at once."""
        error = None if writer.task.cancelled() else writer.task.exception()
        if error is None:
            self._backoffs.pop(partition, None)
            return
        violation = _invariant_violation(error)
        if violation is not None:
            raise violation
        settings = self._shared.settings
        now_s = asyncio.get_running_loop().time()
        backoff_max_ms = settings.writer_restart_backoff_max_ms
        previous = self._backoffs.get(partition)
        fresh = previous is None or (now_s - writer.started_s) * 1000 >= backoff_max_ms
        failures = 1 if previous is None or fresh else previous.failures + 1
        delay_ms = min(
            settings.writer_restart_backoff_ms * 2 ** min(failures - 1, 16), backoff_max_ms
        )
        self._backoffs[partition] = Backoff(failures, now_s + delay_ms / 1000)
        log.log(
            logging.WARNING if isinstance(error, Unavailable) else logging.ERROR,
            "partition %s: the writer ended (%s); a new one in %s ms (failure %s in a row)",
            partition,
            one_line(error),
            delay_ms,
            failures,
        )

    async def _stop_all(self) -> None:
        """Ask every writer to let go and wait for them; raise an InvariantViolation that ended
        one of them."""
        for writer in self._running.values():
            writer.stop.set()
        ended = [writer.task for writer in self._running.values()]
        for outcome in await asyncio.gather(*ended, return_exceptions=True):
            violation = _invariant_violation(outcome) if outcome is not None else None
            if violation is not None:
                raise violation


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
    leases fence the writers whatever the assignment). So after any transient database error
    (shared/database.py), not only a lost connection: a heartbeat cancelled by an operator, or
    a deadlock's victim, is tried again at the next heartbeat and never ends the process."""
    try:
        async with pool.acquire() as connection:
            live = await ownership.heartbeat(
                connection, shared.worker_id, shared.settings.worker_timeout_ms
            )
    except TRANSIENT_ERRORS as error:
        log.warning("worker %s: heartbeat failed (%s)", shared.worker_id, type(error).__name__)
        return None
    shares = ownership.assign(shared.settings.partition_count, live)
    return shares.get(shared.worker_id, frozenset())


def _start(shared: Shared, lease: PartitionLease) -> Running:
    """A task that writes the lease's partition: it takes the lease, connects, writes until
    asked to let go, closes its connection and only then releases the lease."""
    writer_stop = asyncio.Event()
    settings = shared.settings

    async def write() -> None:
        connection: AbstractRobustConnection | None = None
        try:
            if not await lease.take(writer_stop):
                return
            name = f"cloudwallet-writer-{lease.partition}"
            connection = await intake.connect(settings, name, writer_stop)
            if connection is None:
                return
            writer = PartitionWriter(
                lease.partition,
                settings,
                lease,
                shared.cache,
                connection,
                shared.announce,
                shared.metrics,
                shared.tracer,
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
                await intake.disconnect(connection, settings)
            await lease.release()

    started_s = asyncio.get_running_loop().time()
    return Running(asyncio.create_task(write()), writer_stop, started_s)
