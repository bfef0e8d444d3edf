"""A writer's intake: it consumes the partition queue into an inbox, on a broker connection of
the writer's own, and collects from the inbox what is ready, parsed, as the next batch.

The consumer puts each delivery in the inbox as the channel reads it (`delivery.receive`
decodes a single transaction on arrival, while the writer waits for the database), and the
inbox holds everything the broker sent: at most the prefetch window. A batch is bounded in
transactions, not deliveries: a batch message (of many transactions) is never split. A
delivery whose channel has closed is skipped (the broker has it back), and poison is
dead-lettered as it is collected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiormq.abc import DeliveredMessage

from shared.amqp import broker
from shared.contract.messages import TransactionMessage
from shared.contract.partition import queue_name
from shared.errors import BrokerUnavailable
from shared.fastpath.channels import InlineConsumer, InlineQueue
from shared.settings import Settings
from worker import delivery

log = logging.getLogger(__name__)
INBOX_POLL_S = 0.2
# Deliveries the broker may have in flight to a writer, in batches: one being committed, one
# finishing, and enough ready that the next batch is full when the broker is not idle. Memory
# is bounded by this many messages: the gateway's are at most `message_bytes_max` each, or one
# transaction (shared/amqp/publisher.py).
PREFETCH_BATCHES = 4
# A transaction as collected, with the delivery that carries it (a batch message's delivery
# once per transaction).
Parsed = tuple[delivery.Delivery, TransactionMessage]


class Intake:
    """One partition's consumer and inbox."""

    def __init__(
        self, partition: int, settings: Settings, inbox: asyncio.Queue[delivery.Inbound]
    ) -> None:
        self.partition = partition
        self._settings = settings
        self._inbox = inbox
        # The limits a message is decoded with.
        self.context: dict[str, Any] = {
            "operations_per_transaction_max": settings.operations_per_transaction_max,
            "reference_id_length_max": settings.reference_id_length_max,
        }
        self._channel: AbstractChannel | None = None

    async def consume(self, connection: AbstractRobustConnection) -> None:
        """Consume the partition queue on a channel of `connection` (a WriterConnection), with
        manual acks; raises BrokerUnavailable if the broker fails it."""
        with broker.broker_errors():
            self._channel = channel = await connection.channel()
            await channel.set_qos(prefetch_count=self._settings.batch_size_max * PREFETCH_BATCHES)
            # A queue declared (passively) on the robust channel, unlike one merely named, gets
            # its consumer back when the connection is restored after a broker outage.
            queue = await channel.get_queue(queue_name(self.partition))
            if not isinstance(queue, InlineQueue):
                raise TypeError("a writer consumes on a delivery.WriterConnection")
            await queue.consume(InlineConsumer(self._receive), no_ack=False)

    async def close(self) -> None:
        """Close the channel. No basic.cancel first: closing the channel returns the
        unacknowledged messages and hands the queue to the next consumer in one step, so that
        it starts from them, in queue order. A cancel would activate it while this writer
        still held them."""
        if self._channel is None:
            return
        with contextlib.suppress(BrokerUnavailable), broker.broker_errors():
            await self._channel.close()

    def _receive(self, message: DeliveredMessage) -> None:
        self._inbox.put_nowait(delivery.receive(message, self.context))

    def empty(self) -> bool:
        return self._inbox.empty()

    async def collect(self) -> list[Parsed]:
        """What is ready, parsed, up to `batch_size_max` transactions (a batch message is never
        split, so one more delivery may take a batch past it by at most
        `transactions_per_batch_max`); waits only while the inbox is empty. Deliveries whose
        channel closed are skipped, and poison is dead-lettered here."""
        inbox = self._inbox
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
        await self.take_ready(parsed)
        return parsed

    async def take_ready(self, parsed: list[Parsed]) -> None:
        """Add to `parsed` what the inbox holds, until `batch_size_max` transactions."""
        while len(parsed) < self._settings.batch_size_max and not self._inbox.empty():
            await self._take(self._inbox.get_nowait(), parsed)

    async def _take(self, inbound: delivery.Inbound, parsed: list[Parsed]) -> None:
        if delivery.is_live(inbound[0]):
            parsed.extend(await delivery.parse(inbound, self.partition, self.context))


async def connect(
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


async def disconnect(connection: AbstractRobustConnection, settings: Settings) -> None:
    """Close a writer's connection, waiting at most `broker_close_timeout_ms`: whatever the
    broker still held for it goes back to the queue when the socket closes."""
    try:
        async with asyncio.timeout(settings.broker_close_timeout_ms / 1000):
            with broker.broker_errors():
                await connection.close()
    except (TimeoutError, BrokerUnavailable) as error:
        cause = error.__cause__ if isinstance(error, BrokerUnavailable) else error
        log.warning("closing a writer's broker connection: %r", cause)
