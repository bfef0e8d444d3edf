"""One writer per partition: consume the partition queue, gather what is ready into a batch,
apply it in one PostgreSQL transaction, then cache the states, announce them, and ack.

The ack comes only after the commit. A message that can never be parsed is rejected to the
dead-letter exchange at once, and so is one the database refuses (an unknown project, say):
a refused batch is applied again one message per transaction to find it. While PostgreSQL is
unreachable the batch is retried with a capped backoff and nothing is acked, so the prefetch
window stays full and the broker sends no more: the partition pauses, nothing is requeued or
dead-lettered, and it resumes by itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol

import aio_pika
import asyncpg
import orjson
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

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
        events: AbstractExchange,
        replies: AbstractExchange,
    ) -> None:
        self.partition = partition
        self._settings = settings
        self._lease = lease
        self._cache = cache
        self._connection = connection
        self._events = events
        self._replies = replies
        self._context = {
            "operations_per_transaction_max": settings.operations_per_transaction_max,
            "reference_id_length_max": settings.reference_id_length_max,
        }
        self._failpoint = delivery.FailPoint.from_environment()
        self.batch_sizes: list[int] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is committed and acked first."""
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._settings.batch_size_max * 2)
        # A queue declared (passively) on the robust channel, unlike one merely named, gets its
        # consumer back when the connection is restored after a broker outage.
        queue = await channel.get_queue(queue_name(self.partition))
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(inbox.put, no_ack=False)
        try:
            while not stop.is_set():
                batch = await self._collect(inbox)
                if batch:
                    await self._process(batch, stop)
        finally:
            # No basic.cancel first: closing the channel returns the unacknowledged messages
            # and hands the queue to the next consumer in one step, so that it starts from them,
            # in queue order. A cancel would activate it while this writer still held them.
            with contextlib.suppress(AMQPError, ChannelInvalidStateError, ConnectionError):
                await channel.close()

    async def _collect(
        self, inbox: asyncio.Queue[AbstractIncomingMessage]
    ) -> list[AbstractIncomingMessage]:
        """What is ready, up to `batch_size_max`; waits only while the inbox is empty."""
        try:
            first = await asyncio.wait_for(inbox.get(), timeout=INBOX_POLL_S)
        except TimeoutError:
            return []
        batch = [first]
        if self._settings.batch_wait_ms > 0:
            await asyncio.sleep(self._settings.batch_wait_ms / 1000)
        while len(batch) < self._settings.batch_size_max and not inbox.empty():
            batch.append(inbox.get_nowait())
        return batch

    async def _process(self, batch: list[AbstractIncomingMessage], stop: asyncio.Event) -> None:
        live = [received for received in batch if delivery.is_live(received)]
        parsed = await delivery.parse(live, self.partition, self._context)
        if parsed:
            await self._settle(parsed, stop)

    async def _settle(
        self, parsed: list[tuple[AbstractIncomingMessage, TransactionMessage]], stop: asyncio.Event
    ) -> None:
        """Apply, commit, cache, announce, ack; or find and dead-letter what PostgreSQL refuses."""
        deliveries = [received for received, _ in parsed]
        try:
            plan = await self._apply([message for _, message in parsed], stop)
        except REFUSED_BY_DATABASE as error:
            if len(parsed) == 1:
                await delivery.dead_letter(
                    deliveries[0], self.partition, f"refused by the database: {error!r}"
                )
                return
            for one in parsed:
                await self._settle([one], stop)
            return
        if plan is None:
            return
        self.batch_sizes.append(len(parsed))
        self._failpoint.after_commit(self.partition, len(parsed))
        delivery.report_replays(
            self.partition, deliveries, sum(1 for outcome in plan.outcomes if not outcome.new)
        )
        await self._cache_states(plan)
        await self._announce(plan.outcomes, deliveries)
        await delivery.ack(deliveries)

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
        where it asked for one."""
        publishes = []
        for outcome, received in zip(outcomes, deliveries, strict=True):
            payload = aio_pika.Message(
                orjson.dumps(outcome.body),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                correlation_id=received.correlation_id,
            )
            if outcome.body["id"] == outcome.message.id:
                status = str(outcome.body["status"]).lower()
                key = f"transaction.{status}.{outcome.message.project_id}"
                publishes.append(self._events.publish(payload, key))
            if received.reply_to:
                publishes.append(self._replies.publish(payload, received.reply_to))
        try:
            async with asyncio.timeout(self._settings.publish_confirm_timeout_ms / 1000):
                results = await asyncio.gather(*publishes, return_exceptions=True)
        except TimeoutError as error:
            results = [error]
        failed = [result for result in results if isinstance(result, BaseException)]
        if failed:
            log.warning(
                "partition %s: %s event publishes failed: %r",
                self.partition,
                len(failed),
                failed[0],
            )
