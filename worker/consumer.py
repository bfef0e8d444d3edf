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

import asyncpg
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from pamqp import commands as spec
from pydantic import ValidationError

from shared.broker import EVENTS_EXCHANGE, Outgoing, publish_unconfirmed, underlying_channel
from shared.errors import CacheUnavailable
from shared.messages import TRANSACTION_BATCH_TYPE, TransactionBatchMessage, TransactionMessage
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
PERSISTENT = 2
# Deliveries the broker may have in flight to a writer, in batches: one being committed, one
# finishing, and enough ready that the next batch is full when the broker is not idle. Memory
# is bounded by this many messages of at most the request body limit each.
PREFETCH_BATCHES = 4
Parsed = tuple[AbstractIncomingMessage, TransactionMessage]


class PartitionWriter:
    """The single writer of one partition."""

    def __init__(
        self,
        partition: int,
        settings: Settings,
        pool: asyncpg.Pool,
        cache: StatusCache,
        connection: AbstractRobustConnection,
        announce: AbstractChannel,
    ) -> None:
        self.partition = partition
        self._settings = settings
        self._pool = pool
        self._cache = cache
        self._connection = connection
        self._announce_channel = announce
        self._context = {
            "operations_per_transaction_max": settings.operations_per_transaction_max,
            "reference_id_length_max": settings.reference_id_length_max,
        }
        self._failpoint = os.environ.get(FAILPOINT_ENV, "")
        self.batch_sizes: list[int] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is committed and acked first.

        Batch N's cache, events and ack (its finish) overlap batch N+1's database transaction:
        N is committed before N+1 begins, so every ack still follows its commit, and the
        finishes run one after another, so states, events and acks keep the queue's order."""
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._settings.batch_size_max * PREFETCH_BATCHES)
        queue = await channel.get_queue(queue_name(self.partition), ensure=False)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        consumer_tag = await queue.consume(inbox.put, no_ack=False)
        finishing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                parsed = await self._collect(inbox)
                committed = await self._commit(parsed, stop) if parsed else None
                if finishing is not None and finishing.done():
                    finishing.result()  # a programmer error in a finish stops the writer
                if committed is not None:
                    finishing = asyncio.create_task(self._finish(*committed, after=finishing))
        finally:
            if finishing is not None:
                await finishing
            with contextlib.suppress(AMQPError, ChannelInvalidStateError, ConnectionError):
                await queue.cancel(consumer_tag)
                await channel.close()

    async def _collect(self, inbox: asyncio.Queue[AbstractIncomingMessage]) -> list[Parsed]:
        """What is ready, up to `batch_size_max` transactions, parsed; waits only while the
        inbox is empty. A message that can never be parsed is dead-lettered here."""
        try:
            first = await asyncio.wait_for(inbox.get(), timeout=INBOX_POLL_S)
        except TimeoutError:
            return []
        if self._settings.batch_wait_ms > 0:
            await asyncio.sleep(self._settings.batch_wait_ms / 1000)
        parsed: list[Parsed] = []
        count = 0
        delivery: AbstractIncomingMessage | None = first
        while delivery is not None:
            messages = await self._parse(delivery)
            parsed.extend((delivery, message) for message in messages)
            count += len(messages)
            if count >= self._settings.batch_size_max or inbox.empty():
                break
            delivery = inbox.get_nowait()
        return parsed

    async def _parse(self, delivery: AbstractIncomingMessage) -> list[TransactionMessage]:
        """The transactions a delivery carries: one, or a batch message's; none if invalid."""
        try:
            if delivery.type == TRANSACTION_BATCH_TYPE:
                return TransactionBatchMessage.model_validate_json(
                    delivery.body, context=self._context
                ).transactions
            return [TransactionMessage.model_validate_json(delivery.body, context=self._context)]
        except ValidationError as error:
            log.error(
                "partition %s: dead-lettering an invalid message: %s",
                self.partition,
                error.errors(include_url=False)[:3],
            )
            await delivery.reject(requeue=False)
            return []

    async def _commit(
        self, parsed: list[Parsed], stop: asyncio.Event
    ) -> tuple[BatchPlan, list[AbstractIncomingMessage]] | None:
        """Apply a batch in one database transaction; None if stopping before the commit."""
        plan = await self._apply([message for _, message in parsed], stop)
        if plan is None:
            return None
        self.batch_sizes.append(len(parsed))
        if self._failpoint == "after-commit-before-ack":
            os._exit(137)
        return plan, [delivery for delivery, _ in parsed]

    async def _finish(
        self,
        plan: BatchPlan,
        deliveries: list[AbstractIncomingMessage],
        after: asyncio.Task[None] | None,
    ) -> None:
        """Cache the final states and announce them (together), then ack, once the previous
        batch has."""
        if after is not None:
            await after
        await asyncio.gather(self._cache_states(plan), self._announce(plan.outcomes, deliveries))
        await _ack(deliveries)

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
        where it asked for one: all of a batch's in one write, without confirms, on the worker's
        connection before the batch's ack. A worker that stops before the ack announces the
        batch again on redelivery; a broker that fails in between may lose them. Nobody need be
        listening, hence no `mandatory` flag."""
        outgoing = []
        for outcome, delivery in zip(outcomes, deliveries, strict=True):
            body = orjson.dumps(outcome.body)
            properties = spec.Basic.Properties(
                content_type="application/json",
                delivery_mode=PERSISTENT,
                message_id=outcome.message.id,
                correlation_id=delivery.correlation_id,
            )
            if outcome.body["id"] == outcome.message.id:
                status = str(outcome.body["status"]).lower()
                key = f"transaction.{status}.{outcome.message.project_id}"
                outgoing.append(Outgoing(EVENTS_EXCHANGE, key, body, properties))
            if delivery.reply_to:
                outgoing.append(Outgoing("", delivery.reply_to, body, properties))
        try:
            channel = await underlying_channel(self._announce_channel)
            await publish_unconfirmed(channel, outgoing)
        except (AMQPError, ChannelInvalidStateError, ConnectionError) as error:
            log.warning(
                "partition %s: %s event publishes failed: %r",
                self.partition,
                len(outgoing),
                error,
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
