"""A writer's committer: it applies a batch in one PostgreSQL transaction, and plans the next
batch while the database writes the current one
(docs/decisions/0005-group-commit-and-planning-ahead.md).

One transaction per batch: under the partition's lock (`store.partition_transaction`) it
loads the batch's wallets and known reference IDs, plans the batch from the rows it holds
locked (`batch.plan_batch`), saves it with its outbox row (which final states it has to
announce, docs/decisions/0008-events-outbox.md) and deletes the outbox rows whose events the
broker has confirmed since. While PostgreSQL is unreachable the batch is retried with a capped
backoff and nothing is acked, so the prefetch window stays full and the broker sends no more:
the partition pauses, nothing is requeued or dead-lettered, and it resumes by itself. A
database that refuses the batch itself raises, for the batch to be settled (worker/settle.py).

Planning ahead: the writer decodes the next batch while the current batch's wallets are read
(`Progress.loading`), and plans it, from the wallets as the current plan leaves them
(`batch.WalletCache`), while the current batch is saved (`Progress.planned`). That plan is
used only if the wallets the next batch then locks are exactly the ones it was made from and
none of its reference IDs is taken; otherwise the batch is planned again from what it locked.
Either way each batch is planned from the rows it holds locked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.contract.messages import TransactionMessage
from shared.ids import new_id
from shared.settings import Settings
from shared.tracing import Tracer
from worker import delivery, store
from worker.batch import BatchPlan, Guess, WalletCache, guess, plan_batch
from worker.failpoints import FailPoint
from worker.intake import Parsed
from worker.lease import TRANSIENT_DATABASE_ERRORS, Lease
from worker.metrics import WorkerMetrics
from worker.outbox import Outbox

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Committed:
    """A committed batch, to finish: its plan, one delivery per outcome, and its outbox row
    (None when it had nothing new to announce)."""

    plan: BatchPlan
    deliveries: list[delivery.Delivery]
    outbox_batch_id: str | None


class Progress:
    """How far a batch being committed has got, for the writer to overlap the next batch's work
    with the database's: `loading` once its wallets are being read, `planned` once its plan is
    final and in the wallet cache. Both are also set when the commit ends, however it ends."""

    __slots__ = ("loading", "planned")

    def __init__(self) -> None:
        self.loading = asyncio.Event()
        self.planned = asyncio.Event()

    def end(self) -> None:
        self.loading.set()
        self.planned.set()


@dataclass(frozen=True, slots=True)
class Committing:
    """A batch being committed by `task`."""

    parsed: list[Parsed]
    progress: Progress
    task: asyncio.Task[Committed | None]


def batch_instant() -> datetime:
    """The instant of a batch: now, to the millisecond, as every response shows times, so that
    a hold expires exactly at the `expiresAt` shown
    (docs/decisions/0017-holds-storage-and-expiry.md)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


class Committer:
    """Commits one partition's batches, one at a time."""

    def __init__(
        self,
        partition: int,
        settings: Settings,
        lease: Lease,
        outbox: Outbox,
        failpoint: FailPoint,
        metrics: WorkerMetrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.partition = partition
        self._tracer = tracer
        self._settings = settings
        self._lease = lease
        self._outbox = outbox
        self._failpoint = failpoint
        self._metrics = metrics or WorkerMetrics()
        self._wallets = WalletCache(settings.wallet_cache_entries_max)
        self.batches_committed = 0
        self.plans_ahead = 0  # batches planned ahead
        self.plans_guessed = 0  # batches saved with the plan made ahead

    def start(self, parsed: list[Parsed], stop: asyncio.Event, ahead: Guess | None) -> Committing:
        """Commit the batch in a task of its own, with its plan made `ahead` if that holds."""
        progress = Progress()
        task = asyncio.create_task(self.commit(parsed, stop, ahead, progress))
        return Committing(parsed, progress, task)

    async def plan_ahead(self, committing: Committing, parsed: list[Parsed]) -> Guess | None:
        """A full batch's plan, made while the database saves the batch in flight, from the
        wallets as that batch's plan leaves them; None for a batch that is not full, or that
        the cache cannot plan."""
        if len(parsed) < self._settings.batch_size_max:
            return None
        await committing.progress.planned.wait()
        messages = [message for _, message in parsed]
        ahead = guess(messages, self._wallets, batch_instant())
        self.plans_ahead += ahead is not None
        return ahead

    async def commit(
        self,
        parsed: list[Parsed],
        stop: asyncio.Event,
        ahead: Guess | None = None,
        progress: Progress | None = None,
    ) -> Committed | None:
        """Apply a batch in one database transaction, with its plan made `ahead` if that holds;
        None if stopping before the commit."""
        forgotten = self._outbox.confirmed()
        messages = [message for _, message in parsed]
        started_s = time.perf_counter()
        began_ns = 0 if self._tracer is None else time.time_ns()
        try:
            applied = await self._apply(messages, forgotten, stop, ahead, progress)
        finally:
            if progress is not None:
                progress.end()
        if applied is None:
            return None
        plan, outbox_batch_id = applied
        self._metrics.commit_latency.observe(time.perf_counter() - started_s)
        self._outbox.forgotten(forgotten)
        deliveries = [received for received, _ in parsed]
        self.batches_committed += 1
        self._failpoint.after_commit(self.partition, len(parsed))
        redelivered = delivery.report_replays(
            self.partition, deliveries, sum(1 for outcome in plan.outcomes if not outcome.new)
        )
        self._count(plan, deliveries, redelivered)
        if self._tracer is not None:
            self._trace(self._tracer, plan, deliveries, began_ns)
        return Committed(plan, deliveries, outbox_batch_id)

    def _count(
        self, plan: BatchPlan, deliveries: list[delivery.Delivery], redelivered: int
    ) -> None:
        """A committed batch's metrics, and a line for each transaction a request id follows
        (docs/decisions/0020-operating-signals.md)."""
        metrics = self._metrics
        metrics.batch_size.observe(len(deliveries))
        if len(deliveries) >= self._settings.batch_size_max:
            metrics.full_batch_at_s = time.monotonic()
        metrics.applied(plan.outcomes)
        if redelivered:
            metrics.redeliveries.inc(redelivered)
        for outcome, received in zip(plan.outcomes, deliveries, strict=False):
            request_id = received.request_id_of(outcome.message.id)
            if request_id is not None and outcome.new:
                delivery.report_applied(self.partition, outcome, request_id)

    def _trace(
        self,
        tracer: Tracer,
        plan: BatchPlan,
        deliveries: list[delivery.Delivery],
        began_ns: int,
    ) -> None:
        """A span for each transaction of a committed batch that arrived with a traceparent,
        from when the batch began to now, after its commit (docs/decisions/0025-traces.md)."""
        for outcome, received in zip(plan.outcomes, deliveries, strict=False):
            traceparent = received.traceparent_of(outcome.message.id)
            if traceparent is None:
                continue
            body = outcome.body
            failure = body.get("failure")
            attributes: dict[str, AttributeValue] = {
                "cloudwallet.transaction.id": body["id"],
                "cloudwallet.transaction.status": body["status"],
                "cloudwallet.transaction.failure": failure["code"] if failure else "",
                "cloudwallet.transaction.replayed": not outcome.new,
                "cloudwallet.partition": self.partition,
                "cloudwallet.batch.size": len(deliveries),
            }
            tracer.applied(traceparent, began_ns, attributes)

    async def _apply(
        self,
        messages: list[TransactionMessage],
        forgotten: list[str],
        stop: asyncio.Event,
        ahead: Guess | None = None,
        progress: Progress | None = None,
    ) -> tuple[BatchPlan, str | None] | None:
        """Apply the batch in one database transaction, with its outbox row (and the deletion
        of the rows in `forgotten`), retrying while the database is away. Returns the plan and
        the outbox row's id, or None only when stopping before it could commit (nothing is
        acked then)."""
        attempt = 0
        while True:
            try:
                return await self._transact(messages, forgotten, ahead, progress)
            except TRANSIENT_DATABASE_ERRORS as error:
                # The attempt may have committed unknown to us (the connection broke during the
                # commit): the retry then finds its transactions applied and does not announce
                # them, so its outbox row is relayed instead.
                self._outbox.expect_leftovers()
                if stop.is_set():
                    return None
                attempt += 1
                await self._back_off(attempt, error, stop)

    async def _transact(
        self,
        messages: list[TransactionMessage],
        forgotten: list[str],
        ahead: Guess | None,
        progress: Progress | None,
    ) -> tuple[BatchPlan, str | None]:
        """One attempt at `_apply`. The plan made `ahead` is used if the locked wallets and the
        taken reference IDs are those it was made from."""
        async with (
            self._lease.acquire() as connection,
            store.partition_transaction(connection, self.partition),
        ):
            if progress is not None:
                progress.loading.set()
            known, wallets, holds, reversible = await store.load_batch(connection, messages)
            if ahead is not None and ahead.holds(messages, known, wallets, holds):
                plan = ahead.plan
            else:
                plan = plan_batch(messages, known, wallets, batch_instant(), holds, reversible)
            self._wallets.remember(wallets, plan.balances, plan.held, holds | plan.holds)
            if progress is not None:
                progress.planned.set()
            outbox = new_id(), [o.message.id for o in plan.outcomes if o.new]
            await store.save(connection, plan, self.partition, outbox, forgotten)
            await self._failpoint.before_commit(self.partition)
        self._failpoint.lose_commit(self.partition)
        self.plans_guessed += ahead is not None and plan is ahead.plan
        return plan, (outbox[0] if outbox[1] else None)

    async def _back_off(self, attempt: int, error: BaseException, stop: asyncio.Event) -> None:
        """Wait before the next attempt: `batch_retry_backoff_ms`, doubling with each attempt
        up to `batch_retry_backoff_max_ms`, or until `stop` is set."""
        delay_ms = min(
            self._settings.batch_retry_backoff_ms * 2 ** min(attempt, 10),
            self._settings.batch_retry_backoff_max_ms,
        )
        log.warning(
            "partition %s: database unavailable (%s), attempt %s, retry in %s ms",
            self.partition,
            type(error).__name__,
            attempt,
            delay_ms,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay_ms / 1000)
