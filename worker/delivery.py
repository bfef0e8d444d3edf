"""What a partition writer does with broker deliveries besides applying them: receive them,
keep only those it can still settle, tell messages from poison, dead-letter, acknowledge, and
report redeliveries. Settling never raises: a delivery whose channel is gone is redelivered by
the broker, and the writer then finds its reference ID already applied."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import aiormq
from aio_pika import RobustChannel, RobustConnection
from aio_pika.exceptions import ChannelInvalidStateError
from aiormq.abc import DeliveredMessage
from pydantic import ValidationError

from shared.amqp.broker import broker_errors
from shared.contract.headers import REQUEST_IDS_HEADER, TRACEPARENTS_HEADER, decode_entries
from shared.contract.messages import (
    TRANSACTION_BATCH_TYPE,
    TransactionBatchMessage,
    TransactionMessage,
)
from shared.errors import BrokerUnavailable
from shared.fastpath.channels import InlineQueue
from shared.logs import HotLog
from worker.batch import Outcome

log = logging.getLogger(__name__)
APPLIED_LOG = HotLog(__name__)  # a line per applied transaction: shared/logs.py HotLog


class Delivery:
    """A message the broker delivered to a writer, as the writer reads and settles it, over
    aiormq's own record of the delivery. aio-pika's IncomingMessage copies every property into
    a locked object, 26 guarded attribute writes (timed at 62.6 us with the other core busy);
    without it and its task the writer spends a fifth less CPU per single-transfer message
    (docs/decisions/0011-hand-written-protocol-code.md)."""

    __slots__ = ("_message", "_request_ids", "_traceparents")

    def __init__(self, message: DeliveredMessage) -> None:
        self._message = message
        self._request_ids: dict[str, str] | None = None
        self._traceparents: dict[str, str] | None = None

    def bind_headers(self, messages: list[TransactionMessage]) -> None:
        """Read the request ids and traceparents of the transactions it carries (in their
        order) from its headers, if it has them (shared/contract/headers.py)."""
        headers = self._message.header.properties.headers
        if not headers:
            return
        request_ids = headers.get(REQUEST_IDS_HEADER)
        if request_ids is not None:
            self._request_ids = _by_transaction(request_ids, messages)
        traceparents = headers.get(TRACEPARENTS_HEADER)
        if traceparents is not None:
            self._traceparents = _by_transaction(traceparents, messages)

    def request_id_of(self, transaction_id: str) -> str | None:
        """The request id that transaction was submitted with, if any."""
        request_ids = self._request_ids
        return None if request_ids is None else request_ids.get(transaction_id)

    def traceparent_of(self, transaction_id: str) -> str | None:
        """The W3C traceparent that transaction was published with, if any (tracing on)."""
        traceparents = self._traceparents
        return None if traceparents is None else traceparents.get(transaction_id)

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def type(self) -> str | None:
        return self._message.header.properties.message_type

    @property
    def message_id(self) -> str | None:
        return self._message.header.properties.message_id

    @property
    def headers(self) -> dict[str, Any] | None:
        return self._message.header.properties.headers

    @property
    def reply_to(self) -> str | None:
        return self._message.header.properties.reply_to

    @property
    def correlation_id(self) -> str | None:
        return self._message.header.properties.correlation_id

    @property
    def redelivered(self) -> bool:
        return bool(self._message.redelivered)

    @property
    def channel(self) -> aiormq.abc.AbstractChannel:
        """The channel it came on; ChannelInvalidStateError once that channel has closed."""
        channel = self._message.channel
        if channel.is_closed:
            raise ChannelInvalidStateError
        return channel

    async def ack(self, *, multiple: bool = False) -> None:
        await self.channel.basic_ack(self._delivery_tag(), multiple=multiple)

    async def reject(self, *, requeue: bool) -> None:
        await self.channel.basic_reject(self._delivery_tag(), requeue=requeue)

    def _delivery_tag(self) -> int:
        tag = self._message.delivery_tag
        if tag is None:
            raise ChannelInvalidStateError("a delivery without a delivery tag")
        return tag


def _by_transaction(value: Any, messages: list[TransactionMessage]) -> dict[str, str]:
    """A header's entries by transaction id, those without one left out."""
    entries = decode_entries(value, len(messages)) or []
    return {message.id: entry for message, entry in zip(messages, entries, strict=True) if entry}


class WriterChannel(RobustChannel):
    """A writer's robust channel: its queues consume with an `InlineConsumer` (InlineQueue)."""

    QUEUE_CLASS = InlineQueue


class WriterConnection(RobustConnection):
    """A writer's own broker connection: its channels' queues are InlineQueues."""

    CHANNEL_CLASS = WriterChannel


def is_live(delivery: Delivery) -> bool:
    """Whether the delivery's channel is still open: a copy received on a channel that has
    since closed is back in the queue, so applying it here would only duplicate work."""
    try:
        return not delivery.channel.is_closed
    except ChannelInvalidStateError:
        return False


def delivery_count(delivery: Delivery) -> int:
    """How many times the broker delivered the message before (quorum queues count it)."""
    count: Any = (delivery.headers or {}).get("x-delivery-count", 0)
    return int(count) if isinstance(count, int) else 0


# A delivery in a writer's inbox, with what `decode` made of it when it was read on arrival.
Inbound = tuple[Delivery, "list[TransactionMessage] | str | None"]


def receive(message: DeliveredMessage, context: dict[str, Any]) -> Inbound:
    """A delivery as the writer's inbox holds it. A single-transaction message is decoded as it
    arrives, which happens while the writer waits for the database, so that a batch is parsed
    before the writer asks for it. A batch message is decoded only when collected: the inbox
    then holds its body, not a thousand parsed transactions for each message prefetched.

    Never raises: every delivery must reach the inbox, since one left out would be acknowledged
    unapplied by a later batch's multiple-ack. An error other than poison (a programmer error)
    leaves the delivery undecoded, to fail again in `parse` (called by `Intake.collect`), where
    it stops the writer."""
    received = Delivery(message)
    if received.type == TRANSACTION_BATCH_TYPE:
        return received, None
    try:
        return received, decode(received, context)
    except Exception:
        return received, None


def decode(delivery: Delivery, context: dict[str, Any]) -> list[TransactionMessage] | str:
    """The transactions a delivery carries, in order: one, or all of a batch message's (AMQP
    type `cloudwallet.transaction-batch`). A body that cannot be parsed or fails the schema can
    never succeed: the answer is then why, and the delivery is poison."""
    try:
        if delivery.type == TRANSACTION_BATCH_TYPE:
            return TransactionBatchMessage.model_validate_json(
                delivery.body, context=context
            ).transactions
        return [TransactionMessage.model_validate_json(delivery.body, context=context)]
    except ValidationError as error:
        return f"invalid message: {error.errors(include_url=False)[:3]}"


async def parse(
    inbound: Inbound, partition: int, context: dict[str, Any]
) -> list[tuple[Delivery, TransactionMessage]]:
    """The transactions of a delivery from the inbox, each with the delivery that carries it,
    decoded now if not on arrival. Poison goes to the dead-letter exchange at once (a batch
    message as a whole), and its answer is empty."""
    delivery, decoded = inbound
    if decoded is None:
        decoded = decode(delivery, context)
    if isinstance(decoded, str):
        await dead_letter(delivery, partition, decoded)
        return []
    delivery.bind_headers(decoded)
    return [(delivery, message) for message in decoded]


async def dead_letter(delivery: Delivery, partition: int, reason: str) -> None:
    """Reject the delivery without requeue: the queue dead-letters it to `cloudwallet.dead`."""
    request_ids = (delivery.headers or {}).get(REQUEST_IDS_HEADER)
    log.error(
        "partition %s: dead-lettering message %s: %s",
        partition,
        delivery.message_id,
        reason,
        extra={"request_id": request_ids} if request_ids else None,
    )
    try:
        with broker_errors():
            await delivery.reject(requeue=False)
    except BrokerUnavailable as error:
        log.warning("reject failed (%r); the broker will redeliver", error.__cause__)


async def ack(deliveries: Iterable[Delivery]) -> None:
    """Acknowledge a committed batch: one multiple-ack per channel, on its last delivery."""
    last_by_channel: dict[int, Delivery] = {}
    for delivery in deliveries:
        try:
            last_by_channel[id(delivery.channel)] = delivery
        except ChannelInvalidStateError:
            continue  # its channel closed: the broker redelivers it
    for delivery in last_by_channel.values():
        try:
            with broker_errors():
                await delivery.ack(multiple=True)
        except BrokerUnavailable as error:
            log.warning(
                "ack failed (%r); the broker will redeliver and the writer will find the"
                " reference IDs already applied",
                error.__cause__,
            )


def report_applied(partition: int, outcome: Outcome, request_id: str) -> None:
    """One line for a newly applied transaction that a request id follows."""
    if not APPLIED_LOG.enabled():
        return
    body = outcome.body
    failure = body.get("failure")
    code = f" {failure['code']}" if failure else ""
    APPLIED_LOG.info(
        f"partition {partition}: transaction {body['id']} of project"
        f" {outcome.message.project_id} {body['status']}{code} (reference {body['referenceId']})",
        request_id,
        {"transactionId": body["id"], "status": body["status"]},
    )


def report_replays(partition: int, deliveries: list[Delivery], already_applied: int) -> int:
    """Log a batch that held redelivered messages or reference IDs applied before; the fault
    tests read these lines, and an operator sees a recovery in progress. `deliveries` holds
    one entry per transaction (a batch message's delivery once per transaction it carries), so
    every figure counts transactions. Returns how many were redelivered."""
    redelivered = [delivery for delivery in deliveries if delivery.redelivered]
    if not redelivered and not already_applied:
        return 0
    log.info(
        "partition %s: batch of %s: %s redelivered (delivery count up to %s), %s already applied",
        partition,
        len(deliveries),
        len(redelivered),
        max((delivery_count(delivery) for delivery in redelivered), default=0),
        already_applied,
    )
    return len(redelivered)
