"""One writer per partition: consume the partition queue, gather what is ready into a batch,
apply it in one PostgreSQL transaction, then cache the states, announce them, and ack.

A transaction goes through the writer's collaborators in this order, one module each:
- worker/intake.py: the partition queue's consumer and the inbox; collects what is ready,
  parsed, as a batch, and dead-letters poison;
- worker/committer.py: applies a batch in one database transaction (retried while the database
  is away), and plans the next batch while the database writes this one;
- worker/settle.py: finishes a committed batch (states cached and announced, then acked, in
  queue order), and finds what the database refuses in a refused one;
- worker/outbox.py: announces the final states, and relays the outbox rows left unannounced;
- worker/expiry.py: publishes the expiry of the partition's holds past their instant, to the
  partition's own queue;
- worker/failpoints.py: faults on purpose, for the fault tests.

The writer's loop overlaps them (docs/decisions/0005-group-commit-and-planning-ahead.md): while
a batch is committed, the next is collected (decoded while the database reads the batch's
wallets), planned ahead if it is full (while the database saves the batch), and the previous
batch's finish runs. A delivery carries one transaction or a batch message of many, applied in
order."""

from __future__ import annotations

import asyncio
import logging

from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.redis.status_cache import StatusCache
from shared.settings import Settings
from shared.tracing import Tracer
from worker.batch import Guess
from worker.committer import Committer, Committing
from worker.expiry import ExpiryScanner
from worker.failpoints import FailPoint
from worker.intake import Intake, Parsed
from worker.lease import Lease
from worker.metrics import WorkerMetrics
from worker.outbox import Outbox
from worker.settle import Settler

log = logging.getLogger(__name__)


class PartitionWriter:
    """The single writer of one partition."""

    def __init__(
        self,
        partition: int,
        settings: Settings,
        lease: Lease,
        cache: StatusCache,
        connection: AbstractRobustConnection,
        announce: AbstractChannel,
        metrics: WorkerMetrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.partition = partition
        self._connection = connection
        failpoint = FailPoint.from_environment()
        self._intake = Intake(partition, settings, asyncio.Queue())
        self._outbox = Outbox(partition, settings, lease, announce, failpoint)
        self._committer = Committer(
            partition, settings, lease, self._outbox, failpoint, metrics, tracer
        )
        self._settler = Settler(partition, cache, self._committer, self._outbox)
        self._expiry = ExpiryScanner(partition, settings, lease, announce)
        self._committing: Committing | None = None  # the batch in flight

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is committed and acked first. Raises
        BrokerUnavailable if the broker fails it before it consumes."""
        await self._intake.consume(self._connection)
        expiring = asyncio.create_task(self._expiry.run(stop))
        try:
            await self._write(stop)
        finally:
            expiring.cancel()
            await asyncio.gather(expiring, return_exceptions=True)
            committer = self._committer
            if committer.batches_committed:
                log.info(
                    "partition %s: %s batches, %s planned ahead, %s saved as planned ahead",
                    self.partition,
                    committer.batches_committed,
                    committer.plans_ahead,
                    committer.plans_guessed,
                )
            await self._intake.close()

    async def _write(self, stop: asyncio.Event) -> None:
        """Collect, commit and finish batches until `stop` is set, each batch's commit
        overlapping the collecting and planning of the next; the batch in hand is seen through
        before it returns."""
        try:
            while not stop.is_set():
                if self._outbox.relay_ready():
                    await self._conclude(stop)
                    await self._settler.drain()
                    await self._outbox.relay(stop)
                batch = await self._next_batch(stop)
                if batch is None:
                    break  # what was collected goes back to the queue with the channel
                parsed, ahead = batch
                if not parsed:
                    if self._settler.idle():
                        await self._outbox.forget()
                    continue
                self._committing = self._committer.start(parsed, stop, ahead)
        finally:
            try:
                await self._conclude(stop)
            finally:
                # Even when the batch in flight failed: the finishes already started ack on
                # the channel and record their outbox rows before it closes and the lease goes.
                await self._settler.drain()
                await self._outbox.forget()

    async def _next_batch(self, stop: asyncio.Event) -> tuple[list[Parsed], Guess | None] | None:
        """The next batch, collected while the batch in flight is committed, and its plan if
        made ahead; the batch in flight is seen through first. None if `stop` was set by then."""
        if self._committing is not None:
            if self._intake.empty():  # nothing to do meanwhile: see the batch through
                await self._conclude(stop)
            else:  # decode the next batch while the database reads this one's wallets
                await self._committing.progress.loading.wait()
        parsed = await self._intake.collect()
        committing = self._committing
        if committing is None:
            return parsed, None
        # A full batch: plan it while the database saves the batch in flight.
        ahead = await self._committer.plan_ahead(committing, parsed)
        await self._conclude(stop)
        if stop.is_set():
            return None
        await self._intake.take_ready(parsed)  # what arrived meanwhile, if not full
        return parsed, ahead

    async def _conclude(self, stop: asyncio.Event) -> None:
        """See the batch in flight through its commit and start its finish (worker/settle.py).
        A batch whose commit failed is not in flight any more either: its error is raised once."""
        try:
            await self._settler.conclude(self._committing, stop)
        finally:
            self._committing = None
