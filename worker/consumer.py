"""One writer per partition: consume the partition queue, gather what is ready into a batch,
apply it in one PostgreSQL transaction, then cache the states, announce them, and ack.

The ack comes only after the commit. A message that can never be parsed is rejected to the
dead-letter exchange at once. While PostgreSQL is unreachable the batch is retried with a
capped backoff and nothing is acked, so the prefetch window stays full and the broker sends
no more: the partition pauses, nothing is requeued or dead-lettered, and it resumes by itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime

import aio_pika
import asyncpg
import orjson
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from pydantic import ValidationError

from shared.errors import CacheUnavailable
from shared.messages import TransactionMessage
from shared.partition import queue_name
from shared.settings import Settings
from shared.status_cache import StatusCache
from worker import store
from worker.batch import BatchPlan, Outcome, plan_batch, wallet_ids

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
)
RETRY_BACKOFF_CAP_MS = 5000
INBOX_POLL_S = 0.2
FAILPOINT_ENV = "CLOUDWALLET_FAILPOINT"


class PartitionWriter:
    """The single writer of one partition."""

    def __init__(
        self,
        partition: int,
        settings: Settings,
        pool: asyncpg.Pool,
        cache: StatusCache,
        connection: AbstractRobustConnection,
        events: AbstractExchange,
        replies: AbstractExchange,
    ) -> None:
        self.partition = partition
        self._settings = settings
        self._pool = pool
        self._cache = cache
        self._connection = connection
        self._events = events
        self._replies = replies
        self._context = {
            "operations_per_transaction_max": settings.operations_per_transaction_max,
            "reference_id_length_max": settings.reference_id_length_max,
        }
        self._failpoint = os.environ.get(FAILPOINT_ENV, "")
        self.batch_sizes: list[int] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is committed and acked first."""
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._settings.batch_size_max * 2)
        queue = await channel.get_queue(queue_name(self.partition), ensure=False)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        consumer_tag = await queue.consume(inbox.put, no_ack=False)
        try:
            while not stop.is_set():
                batch = await self._collect(inbox)
                if batch:
                    await self._process(batch, stop)
        finally:
            with contextlib.suppress(AMQPError, ChannelInvalidStateError, ConnectionError):
                await queue.cancel(consumer_tag)
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
        parsed: list[tuple[AbstractIncomingMessage, TransactionMessage]] = []
        for delivery in batch:
            try:
                message = TransactionMessage.model_validate_json(
                    delivery.body, context=self._context
                )
            except ValidationError as error:
                log.error(
                    "partition %s: dead-lettering an invalid message: %s",
                    self.partition,
                    error.errors(include_url=False)[:3],
                )
                await delivery.reject(requeue=False)
                continue
            parsed.append((delivery, message))
        if not parsed:
            return
        plan = await self._apply([message for _, message in parsed], stop)
        if plan is None:
            return
        self.batch_sizes.append(len(parsed))
        if self._failpoint == "after-commit-before-ack":
            os._exit(137)
        await self._cache_states(plan)
        await self._announce(plan.outcomes, [delivery for delivery, _ in parsed])
        await _ack(delivery for delivery, _ in parsed)

    async def _apply(
        self, messages: list[TransactionMessage], stop: asyncio.Event
    ) -> BatchPlan | None:
        """Apply the batch in one database transaction, retrying while the database is away.
        Returns None only when stopping before it could commit (nothing is acked then)."""
        attempt = 0
        while True:
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    await store.lock_partition(connection, self.partition)
                    known = await store.find_known(connection, messages)
                    wallets = await store.lock_wallets(connection, wallet_ids(messages))
                    plan = plan_batch(messages, known, wallets, datetime.now(UTC))
                    await store.save(connection, plan)
                return plan
            except TRANSIENT_DATABASE_ERRORS as error:
                if stop.is_set():
                    return None
                attempt += 1
                delay_ms = min(
                    self._settings.batch_retry_backoff_ms * 2 ** min(attempt, 10),
                    RETRY_BACKOFF_CAP_MS,
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
        for outcome, delivery in zip(outcomes, deliveries, strict=True):
            payload = aio_pika.Message(
                orjson.dumps(outcome.body),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                correlation_id=delivery.correlation_id,
            )
            if outcome.body["id"] == outcome.message.id:
                status = str(outcome.body["status"]).lower()
                key = f"transaction.{status}.{outcome.message.project_id}"
                publishes.append(self._events.publish(payload, key))
            if delivery.reply_to:
                publishes.append(self._replies.publish(payload, delivery.reply_to))
        results = await asyncio.gather(*publishes, return_exceptions=True)
        failed = [result for result in results if isinstance(result, BaseException)]
        if failed:
            log.warning(
                "partition %s: %s event publishes failed: %r",
                self.partition,
                len(failed),
                failed[0],
            )


async def _ack(deliveries: Iterable[AbstractIncomingMessage]) -> None:
    """Acknowledge a batch: one multiple-ack per channel, on its last delivery."""
    last_by_channel: dict[int, AbstractIncomingMessage] = {}
    for delivery in deliveries:
        last_by_channel[id(delivery.channel)] = delivery
    for delivery in last_by_channel.values():
        try:
            await delivery.ack(multiple=True)
        except (AMQPError, ChannelInvalidStateError, ConnectionError) as error:
            log.warning(
                "ack failed (%s); the broker will redeliver and the writer will find the"
                " reference IDs already applied",
                type(error).__name__,
            )
