"""One writer per partition: consume the partition queue, gather what is ready into a batch,
apply it in one PostgreSQL transaction, then cache the states, announce them, and ack.

Announcing goes through an outbox: each batch's transaction also records (in `event_outbox`)
which final states it has to announce, and the row is deleted once the broker has confirmed
those events (by the next batch's transaction, or when the writer is idle). A row whose publish
failed, that a writer left behind when it died, or that a batch committed while its connection
broke (so that its retry found it applied), is relayed: by this writer as soon as it can, and
by the partition's next writer before it consumes anything. Events are so published at
least once; a replay (a message whose transaction was applied before) is never announced again,
since the batch that applied it has its own outbox row.

The ack comes only after the commit. A batch's finish (cache, announce, ack) overlaps the next
batch's database transaction, and the finishes of consecutive batches overlap each other: batch
N is committed before N+1 begins, finishes start in commit order and write their events in that
order, and each acks only after the previous one acked, so every ack follows its commit and
events and acks keep queue order.

The next batch is also collected and planned while the database writes the current one: the
writer decodes it while the current batch's wallets are read, and plans it, from the wallets
as the current plan leaves them (`batch.WalletCache`), while the current batch is saved. That
plan is used only if the wallets the next batch then locks are exactly the ones it was made
from and none of its reference IDs is taken; otherwise the batch is planned again from what it
locked. Either way each batch is planned from the rows it holds locked, as before.
A delivery carries one transaction or a batch message of many, applied in order.

A message that can never be parsed is rejected to the dead-letter exchange at once, and so is
one the database refuses (an unknown project, say): a refused batch is applied again one
delivery at a time to find it, and a batch message transaction by transaction: what the
database accepts is committed, and the message is then dead-lettered whole (replaying it later
finds those already applied). While PostgreSQL is unreachable the batch is retried with a
capped backoff and nothing is acked, so the prefetch window stays full and the broker sends no
more: the partition pauses, nothing is requeued or dead-lettered, and it resumes by itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import orjson
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from shared.amqp.broker import EVENTS_EXCHANGE, Publish, broker_errors, publish_many
from shared.amqp.frames import InlineConsumer
from shared.contract.messages import TransactionMessage
from shared.contract.partition import queue_name
from shared.database import TRANSIENT_ERRORS, Connection
from shared.errors import BrokerUnavailable, CacheUnavailable
from shared.ids import new_id
from shared.redis.status_cache import StatusCache
from shared.settings import Settings
from worker import delivery, store
from worker.batch import BatchPlan, Guess, Outcome, WalletCache, guess, plan_batch
from worker.failpoints import FailPoint
from worker.lease import LeaseUnavailable

log = logging.getLogger(__name__)
# The transient database errors of every process (shared/database.py), and a lease lost: the
# batch is tried again after a backoff. When the connection broke mid-transaction the outcome is
# unknown, and the retry finds out under the partition lock.
TRANSIENT_DATABASE_ERRORS = (*TRANSIENT_ERRORS, LeaseUnavailable)
# The database refuses the message itself (a constraint or a value it cannot store): applying it
# again can never succeed.
REFUSED_BY_DATABASE = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)
INBOX_POLL_S = 0.2
PERSISTENT = 2
# Deliveries the broker may have in flight to a writer, in batches: one being committed, one
# finishing, and enough ready that the next batch is full when the broker is not idle. Memory
# is bounded by this many messages: the gateway's are at most `message_bytes_max` each, or one
# transaction (shared/amqp/publisher.py).
PREFETCH_BATCHES = 4
Parsed = tuple[delivery.Delivery, TransactionMessage]


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


class Lease(Protocol):
    """Where the writer gets the connection it writes with (`worker/lease.py`)."""

    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...


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
    ) -> None:
        self.partition = partition
        self._settings = settings
        self._lease = lease
        self._cache = cache
        self._connection = connection
        self._announce_channel = announce  # with publisher confirms
        self._context = {
            "operations_per_transaction_max": settings.operations_per_transaction_max,
            "reference_id_length_max": settings.reference_id_length_max,
        }
        self._failpoint = FailPoint.from_environment()
        self.batch_sizes: list[int] = []
        self._wallets = WalletCache(settings.wallet_cache_entries_max)
        self.plans_ahead = 0  # batches planned ahead
        self.plans_guessed = 0  # batches saved with the plan made ahead
        # The outbox: rows whose events the broker confirmed (deleted by the next batch or when
        # idle), and whether rows may be waiting to be relayed (at start: a previous writer's).
        self._announced: list[str] = []
        self._relay_due = True
        self._relay_at_s = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is committed and acked first. Raises
        BrokerUnavailable if the broker fails it before it consumes."""
        inbox: asyncio.Queue[delivery.Inbound] = asyncio.Queue()

        def receive(message: DeliveredMessage) -> None:
            inbox.put_nowait(delivery.receive(message, self._context))

        with broker_errors():
            channel = await self._connection.channel()
            await channel.set_qos(prefetch_count=self._settings.batch_size_max * PREFETCH_BATCHES)
            # A queue declared (passively) on the robust channel, unlike one merely named, gets
            # its consumer back when the connection is restored after a broker outage.
            queue = await channel.get_queue(queue_name(self.partition))
            if not isinstance(queue, delivery.WriterQueue):
                raise TypeError("a writer consumes on a delivery.WriterConnection")
            await queue.consume(InlineConsumer(receive), no_ack=False)
        try:
            await self._write(inbox, stop)
        finally:
            if self.batch_sizes:
                log.info(
                    "partition %s: %s batches, %s planned ahead, %s saved as planned ahead",
                    self.partition,
                    len(self.batch_sizes),
                    self.plans_ahead,
                    self.plans_guessed,
                )
            # No basic.cancel first: closing the channel returns the unacknowledged messages
            # and hands the queue to the next consumer in one step, so that it starts from
            # them, in queue order. A cancel would activate it while this writer still held
            # them.
            with contextlib.suppress(BrokerUnavailable), broker_errors():
                await channel.close()

    async def _write(self, inbox: asyncio.Queue[delivery.Inbound], stop: asyncio.Event) -> None:
        """Collect, commit and finish batches until `stop` is set, each batch's commit
        overlapping the collecting and planning of the next; the batch in hand is seen through
        before it returns."""
        finishing: asyncio.Task[None] | None = None
        committing: Committing | None = None
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                if self._relay_due and loop.time() >= self._relay_at_s:
                    finishing = await self._conclude(committing, finishing, stop)
                    committing = None
                    if finishing is not None:
                        await finishing
                        finishing = None
                    await self._relay(stop)
                if committing is not None:
                    if inbox.empty():  # nothing to do meanwhile: see the batch through
                        finishing = await self._conclude(committing, finishing, stop)
                        committing = None
                    else:  # decode the next batch while the database reads this one's wallets
                        await committing.progress.loading.wait()
                parsed = await self._collect(inbox)
                ahead: Guess | None = None
                if committing is not None and len(parsed) >= self._settings.batch_size_max:
                    # A full batch: plan it while the database saves the batch in flight.
                    await committing.progress.planned.wait()
                    messages = [message for _, message in parsed]
                    ahead = guess(messages, self._wallets, datetime.now(UTC))
                    self.plans_ahead += ahead is not None
                if committing is not None:
                    finishing = await self._conclude(committing, finishing, stop)
                    committing = None
                    if stop.is_set():
                        break  # what was collected goes back to the queue with the channel
                    await self._take_ready(inbox, parsed)  # what arrived meanwhile, if not full
                if not parsed:
                    if finishing is None or finishing.done():
                        await self._forget_announced()
                    continue
                progress = Progress()
                task = asyncio.create_task(self._commit(parsed, stop, ahead, progress))
                committing = Committing(parsed, progress, task)
        finally:
            finishing = await self._conclude(committing, finishing, stop)
            if finishing is not None:
                await finishing
            await self._forget_announced()

    async def _conclude(
        self,
        committing: Committing | None,
        finishing: asyncio.Task[None] | None,
        stop: asyncio.Event,
    ) -> asyncio.Task[None] | None:
        """See the batch in flight through its commit, and start its finish after the previous
        batch's; a batch the database refuses is settled here, once the previous finish is
        done. Returns the latest finish."""
        if committing is None:
            return finishing
        try:
            committed = await committing.task
        except REFUSED_BY_DATABASE as error:
            if finishing is not None:
                await finishing
            await self._settle_refused(committing.parsed, stop, error)
            return None
        if finishing is not None and finishing.done():
            finishing.result()  # an error in a finish ends the writer (worker/main.py)
        if committed is None:
            return finishing
        return asyncio.create_task(self._finish(committed, after=finishing))

    async def _collect(self, inbox: asyncio.Queue[delivery.Inbound]) -> list[Parsed]:
        """What is ready, parsed, up to `batch_size_max` transactions (a batch message is never
        split, so one more delivery may take a batch past it by at most
        `transactions_per_batch_max`); waits only while the inbox is empty. Deliveries whose
        channel closed are skipped, and poison is dead-lettered here."""
        if inbox.empty():
            try:
                first = await asyncio.wait_for(inbox.get(), timeout=INBOX_POLL_S)
            except TimeoutError:
                return []
        else:
            # No turn of the loop for what is already here: the previous batch's finish, ready
            # to run, would go first and delay this batch's first round trip; it runs while
            # this batch waits for the database instead.
            first = inbox.get_nowait()
        if self._settings.batch_wait_ms > 0:
            await asyncio.sleep(self._settings.batch_wait_ms / 1000)
        parsed: list[Parsed] = []
        await self._take(first, parsed)
        await self._take_ready(inbox, parsed)
        return parsed

    async def _take_ready(
        self, inbox: asyncio.Queue[delivery.Inbound], parsed: list[Parsed]
    ) -> None:
        """Add to `parsed` what the inbox holds, until `batch_size_max` transactions."""
        while len(parsed) < self._settings.batch_size_max and not inbox.empty():
            await self._take(inbox.get_nowait(), parsed)

    async def _take(self, inbound: delivery.Inbound, parsed: list[Parsed]) -> None:
        if delivery.is_live(inbound[0]):
            parsed.extend(await delivery.parse(inbound, self.partition, self._context))

    async def _commit(
        self,
        parsed: list[Parsed],
        stop: asyncio.Event,
        ahead: Guess | None = None,
        progress: Progress | None = None,
    ) -> Committed | None:
        """Apply a batch in one database transaction, with its plan made `ahead` if that holds;
        None if stopping before the commit."""
        forgotten = list(self._announced)
        messages = [message for _, message in parsed]
        try:
            applied = await self._apply(messages, forgotten, stop, ahead, progress)
        finally:
            if progress is not None:
                progress.end()
        if applied is None:
            return None
        plan, outbox_batch_id = applied
        del self._announced[: len(forgotten)]
        deliveries = [received for received, _ in parsed]
        self.batch_sizes.append(len(parsed))
        self._failpoint.after_commit(self.partition, len(parsed))
        delivery.report_replays(
            self.partition, deliveries, sum(1 for outcome in plan.outcomes if not outcome.new)
        )
        return Committed(plan, deliveries, outbox_batch_id)

    async def _finish(
        self, committed: Committed, *, after: asyncio.Task[None] | None = None, ack: bool = True
    ) -> None:
        """Cache the final states and announce them (together, at once), then ack, once the
        previous batch has finished: finishes overlap, while their acks keep queue order. The
        events of consecutive batches are written to the broker in commit order, since each
        finish writes them in its first step, and finishes start in commit order."""
        plan, deliveries = committed.plan, committed.deliveries
        work = asyncio.gather(self._cache_states(plan), self._announce(plan.outcomes, deliveries))
        if after is not None:
            await after
        _, announced = await work
        if committed.outbox_batch_id is not None:
            if announced:
                self._announced.append(committed.outbox_batch_id)
            else:
                self._relay_due = True
        if ack:
            await delivery.ack(deliveries)

    async def _settle_refused(
        self, parsed: list[Parsed], stop: asyncio.Event, error: BaseException
    ) -> None:
        """Find what PostgreSQL refuses in a refused batch: apply it again delivery by delivery
        (a batch message transaction by transaction), in order; commit, cache, announce and ack
        what it accepts, and dead-letter a delivery it refuses."""
        groups: dict[int, list[Parsed]] = {}
        for one in parsed:
            groups.setdefault(id(one[0]), []).append(one)
        if len(groups) > 1:
            for group in groups.values():
                await self._settle(group, stop)
            return
        received = parsed[0][0]
        if len(parsed) == 1:
            reason = f"refused by the database: {error!r}"
            await delivery.dead_letter(received, self.partition, reason)
            return
        refused: list[str] = []
        for one in parsed:
            try:
                committed = await self._commit([one], stop)
            except REFUSED_BY_DATABASE as refusal:
                refused.append(f"{one[1].id}: {refusal!r}")
                continue
            if committed is None:
                return  # stopping: nothing acked, the redelivery finds the rest applied
            await self._finish(committed, ack=False)
        if not refused:  # refused together, accepted one by one
            await delivery.ack([received])
            return
        await delivery.dead_letter(
            received, self.partition, f"refused by the database: {'; '.join(refused)}"
        )

    async def _settle(self, parsed: list[Parsed], stop: asyncio.Event) -> None:
        """Commit, cache, announce and ack one delivery's transactions, or find what PostgreSQL
        refuses among them."""
        try:
            committed = await self._commit(parsed, stop)
        except REFUSED_BY_DATABASE as error:
            await self._settle_refused(parsed, stop, error)
            return
        if committed is not None:
            await self._finish(committed)

    async def _apply(
        self,
        messages: list[TransactionMessage],
        forgotten: list[str],
        stop: asyncio.Event,
        ahead: Guess | None = None,
        progress: Progress | None = None,
    ) -> tuple[BatchPlan, str | None] | None:
        """Apply the batch in one database transaction, with its outbox row (and the deletion
        of the rows in `forgotten`), retrying while the database is away. The plan made `ahead`
        is used if the locked wallets and the taken reference IDs are those it was made from.
        Returns the plan and the outbox row's id, or None only when stopping before it could
        commit (nothing is acked then)."""
        attempt = 0
        while True:
            try:
                async with (
                    self._lease.acquire() as connection,
                    store.partition_transaction(connection, self.partition),
                ):
                    if progress is not None:
                        progress.loading.set()
                    known, wallets = await store.load_batch(connection, messages)
                    if ahead is not None and ahead.holds(messages, known, wallets):
                        plan = ahead.plan
                    else:
                        plan = plan_batch(messages, known, wallets, datetime.now(UTC))
                    self._wallets.remember(wallets, plan.balances)
                    if progress is not None:
                        progress.planned.set()
                    outbox = new_id(), [o.message.id for o in plan.outcomes if o.new]
                    await store.save(connection, plan, self.partition, outbox, forgotten)
                    await self._failpoint.before_commit(self.partition)
                self._failpoint.lose_commit(self.partition)
                self.plans_guessed += ahead is not None and plan is ahead.plan
                return plan, (outbox[0] if outbox[1] else None)
            except TRANSIENT_DATABASE_ERRORS as error:
                # The attempt may have committed unknown to us (the connection broke during the
                # commit): the retry then finds its transactions applied and does not announce
                # them, so its outbox row is relayed instead.
                self._relay_due = True
                if stop.is_set():
                    return None
                attempt += 1
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

    async def _cache_states(self, plan: BatchPlan) -> None:
        states = [(o.message.project_id, o.message.id, o.body) for o in plan.outcomes]
        try:
            await self._cache.put_many(states)
        except CacheUnavailable:
            log.warning(
                "partition %s: status cache unavailable; reads fall back to PostgreSQL",
                self.partition,
            )

    async def _announce(self, outcomes: list[Outcome], deliveries: list[delivery.Delivery]) -> bool:
        """Publish each newly applied final state to the events exchange, and every final state
        to the publisher's reply queue where it asked for one; True if the broker confirmed
        them all. Replies are best effort: a publisher that missed one reads the state."""
        outgoing: list[Publish] = []
        for outcome, received in zip(outcomes, deliveries, strict=True):
            body = orjson.dumps(outcome.body)
            if outcome.new:
                outgoing.append(event(outcome.message.project_id, outcome.body, body))
            if received.reply_to:
                properties = spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=PERSISTENT,
                    correlation_id=received.correlation_id,
                    message_id=outcome.body["id"],
                )
                outgoing.append(("", received.reply_to, body, properties))
        return not self._failpoint.drop_events(self.partition) and await self._publish(outgoing)

    async def _relay(self, stop: asyncio.Event) -> None:
        """Publish the events of the outbox rows that no finish of this writer is announcing,
        `outbox_relay_batches_max` rows at a time, oldest first; on any failure, try again
        after `outbox_relay_retry_ms`."""
        while not stop.is_set():
            try:
                async with self._lease.acquire() as connection:
                    leftovers = await store.outbox_leftovers(
                        connection,
                        self.partition,
                        self._announced,
                        self._settings.outbox_relay_batches_max,
                    )
            except TRANSIENT_DATABASE_ERRORS as error:
                log.warning("partition %s: outbox relay: %s", self.partition, type(error).__name__)
                leftovers = None
            if leftovers == {}:
                self._relay_due = False
                return
            events = [
                event(project_id, state)
                for rows in (leftovers or {}).values()
                for project_id, state in rows
            ]
            if leftovers is None or not await self._publish(events):
                loop = asyncio.get_running_loop()
                self._relay_at_s = loop.time() + self._settings.outbox_relay_retry_ms / 1000
                return
            log.info(
                "partition %s: outbox relay published the events of %s transactions of %s batches",
                self.partition,
                sum(len(rows) for rows in leftovers.values()),
                len(leftovers),
            )
            self._announced.extend(leftovers)
            await self._forget_announced()

    async def _forget_announced(self) -> None:
        """Delete the outbox rows whose events are confirmed, outside a batch (when idle,
        relaying or stopping); a failure leaves them to the next batch."""
        if not self._announced:
            return
        forgotten = list(self._announced)
        try:
            async with self._lease.acquire() as connection:
                await store.forget_outbox(connection, self.partition, forgotten)
        except TRANSIENT_DATABASE_ERRORS:
            return
        del self._announced[: len(forgotten)]

    async def _publish(self, outgoing: list[Publish]) -> bool:
        """Publish with publisher confirms, bounded by `publish_confirm_timeout_ms`; True if
        the broker confirmed every message. Nobody need be listening, hence no `mandatory`
        flag; a failure is logged."""
        if not outgoing:
            return True
        try:
            async with asyncio.timeout(self._settings.publish_confirm_timeout_ms / 1000):
                with broker_errors():
                    await publish_many(self._announce_channel, outgoing)
        except (TimeoutError, BrokerUnavailable) as error:
            log.warning(
                "partition %s: publishing %s events and replies failed: %r",
                self.partition,
                len(outgoing),
                error.__cause__ if isinstance(error, BrokerUnavailable) else error,
            )
            return False
        return True


def event(project_id: str, state: dict[str, Any], body: bytes | None = None) -> Publish:
    """The message announcing a final state on the events exchange; its AMQP message id is the
    transaction's id, by which a consumer recognizes an event it has seen (at least once)."""
    key = f"transaction.{str(state['status']).lower()}.{project_id}"
    properties = spec.Basic.Properties(
        content_type="application/json", delivery_mode=PERSISTENT, message_id=state["id"]
    )
    return EVENTS_EXCHANGE, key, orjson.dumps(state) if body is None else body, properties
