"""One writer per partition: consume the partition queue, gather what is ready into a batch,
apply it in one PostgreSQL transaction, then cache the states, announce them, and ack.

The ack comes only after the commit. A batch's finish (cache, announce, ack) overlaps the next
batch's database transaction: batch N is committed before N+1 begins, and the finishes run one
after another, so every ack follows its commit and states, events and acks keep queue order.
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
from datetime import UTC, datetime
from typing import Protocol

import asyncpg
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from pamqp import commands as spec

from shared.broker import EVENTS_EXCHANGE, underlying_channel
from shared.database import Connection
from shared.errors import CacheUnavailable
from shared.messages import TransactionMessage
from shared.partition import queue_name
from shared.settings import Settings
from shared.status_cache import StatusCache
from worker import delivery, store
from worker.batch import BatchPlan, Outcome, plan_batch, wallet_ids
from worker.lease import LeaseUnavailable

log = logging.getLogger(__name__)
TRANSIENT_DATABASE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.IdleInTransactionSessionTimeoutError,
    asyncpg.LockNotAvailableError,
    # What asyncpg raises when its connection broke mid-transaction (the backend terminated):
    # the outcome is unknown, and the retry finds out under the partition lock.
    asyncpg.InternalClientError,
    LeaseUnavailable,
)
# The database refuses the message itself (a constraint or a value it cannot store): applying it
# again can never succeed.
REFUSED_BY_DATABASE = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)
INBOX_POLL_S = 0.2
PERSISTENT = 2
# Deliveries the broker may have in flight to a writer, in batches: one being committed, one
# finishing, and enough ready that the next batch is full when the broker is not idle. Memory
# is bounded by this many messages of at most the request body limit each.
PREFETCH_BATCHES = 4
Parsed = tuple[AbstractIncomingMessage, TransactionMessage]
Committed = tuple[BatchPlan, list[AbstractIncomingMessage]]


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
        self._failpoint = delivery.FailPoint.from_environment()
        self.batch_sizes: list[int] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is committed and acked first."""
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._settings.batch_size_max * PREFETCH_BATCHES)
        # A queue declared (passively) on the robust channel, unlike one merely named, gets its
        # consumer back when the connection is restored after a broker outage.
        queue = await channel.get_queue(queue_name(self.partition))
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(inbox.put, no_ack=False)
        finishing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                parsed = await self._collect(inbox)
                if not parsed:
                    continue
                try:
                    committed = await self._commit(parsed, stop)
                except REFUSED_BY_DATABASE as error:
                    if finishing is not None:
                        await finishing
                        finishing = None
                    await self._settle_refused(parsed, stop, error)
                    continue
                if finishing is not None and finishing.done():
                    finishing.result()  # a programmer error in a finish stops the writer
                if committed is not None:
                    finishing = asyncio.create_task(self._finish(committed, after=finishing))
        finally:
            if finishing is not None:
                await finishing
            # No basic.cancel first: closing the channel returns the unacknowledged messages
            # and hands the queue to the next consumer in one step, so that it starts from them,
            # in queue order. A cancel would activate it while this writer still held them.
            with contextlib.suppress(AMQPError, ChannelInvalidStateError, ConnectionError):
                await channel.close()

    async def _collect(self, inbox: asyncio.Queue[AbstractIncomingMessage]) -> list[Parsed]:
        """What is ready, parsed, up to `batch_size_max` transactions (a batch message is never
        split, so one more delivery may take a batch past it by at most
        `transactions_per_batch_max`); waits only while the inbox is empty. Deliveries whose
        channel closed are skipped, and poison is dead-lettered here."""
        try:
            first = await asyncio.wait_for(inbox.get(), timeout=INBOX_POLL_S)
        except TimeoutError:
            return []
        if self._settings.batch_wait_ms > 0:
            await asyncio.sleep(self._settings.batch_wait_ms / 1000)
        parsed: list[Parsed] = []
        received: AbstractIncomingMessage | None = first
        while received is not None:
            if delivery.is_live(received):
                parsed.extend(await delivery.parse([received], self.partition, self._context))
            if len(parsed) >= self._settings.batch_size_max or inbox.empty():
                break
            received = inbox.get_nowait()
        return parsed

    async def _commit(self, parsed: list[Parsed], stop: asyncio.Event) -> Committed | None:
        """Apply a batch in one database transaction; None if stopping before the commit."""
        plan = await self._apply([message for _, message in parsed], stop)
        if plan is None:
            return None
        deliveries = [received for received, _ in parsed]
        self.batch_sizes.append(len(parsed))
        self._failpoint.after_commit(self.partition, len(parsed))
        delivery.report_replays(
            self.partition, deliveries, sum(1 for outcome in plan.outcomes if not outcome.new)
        )
        return plan, deliveries

    async def _finish(
        self, committed: Committed, *, after: asyncio.Task[None] | None = None, ack: bool = True
    ) -> None:
        """Cache the final states and announce them (together), then ack, once the previous
        batch has finished."""
        if after is not None:
            await after
        plan, deliveries = committed
        await asyncio.gather(self._cache_states(plan), self._announce(plan.outcomes, deliveries))
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
        self, messages: list[TransactionMessage], stop: asyncio.Event
    ) -> BatchPlan | None:
        """Apply the batch in one database transaction, retrying while the database is away.
        Returns None only when stopping before it could commit (nothing is acked then)."""
        attempt = 0
        while True:
            try:
                async with self._lease.acquire() as connection, connection.transaction():
                    await store.lock_partition(connection, self.partition)
                    known = await store.find_known(connection, messages)
                    wallets = await store.lock_wallets(connection, wallet_ids(messages))
                    plan = plan_batch(messages, known, wallets, datetime.now(UTC))
                    await store.save(connection, plan)
                    await self._failpoint.before_commit(self.partition)
                return plan
            except TRANSIENT_DATABASE_ERRORS as error:
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

    async def _announce(
        self, outcomes: list[Outcome], deliveries: list[AbstractIncomingMessage]
    ) -> None:
        """Publish each final state to the events exchange, and to the publisher's reply queue
        where it asked for one, with publisher confirms, bounded by `publish_confirm_timeout_ms`.
        The frames are written straight to the confirming channel, all of the batch's queued
        at once (`wait=False`), and only the confirms are awaited. Nobody need be listening,
        hence no `mandatory` flag; a failure is logged."""
        properties_by_delivery: dict[int, spec.Basic.Properties] = {}
        outgoing: list[tuple[str, str, bytes, spec.Basic.Properties]] = []
        for outcome, received in zip(outcomes, deliveries, strict=True):
            body = orjson.dumps(outcome.body)
            properties = properties_by_delivery.get(id(received))
            if properties is None:
                properties = spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=PERSISTENT,
                    correlation_id=received.correlation_id,
                )
                properties_by_delivery[id(received)] = properties
            if outcome.body["id"] == outcome.message.id:
                status = str(outcome.body["status"]).lower()
                key = f"transaction.{status}.{outcome.message.project_id}"
                outgoing.append((EVENTS_EXCHANGE, key, body, properties))
            if received.reply_to:
                outgoing.append(("", received.reply_to, body, properties))
        if not outgoing:
            return
        try:
            async with asyncio.timeout(self._settings.publish_confirm_timeout_ms / 1000):
                channel = await underlying_channel(self._announce_channel)
                results = await asyncio.gather(
                    *(
                        channel.basic_publish(
                            body,
                            exchange=exchange,
                            routing_key=key,
                            properties=properties,
                            wait=False,
                        )
                        for exchange, key, body, properties in outgoing
                    ),
                    return_exceptions=True,
                )
        except (TimeoutError, AMQPError, ChannelInvalidStateError, ConnectionError) as error:
            results = [error]
        failed = [result for result in results if isinstance(result, BaseException)]
        if failed:
            log.warning(
                "partition %s: %s event publishes failed: %r",
                self.partition,
                len(failed),
                failed[0],
            )
