"""The RabbitMQ topology, declared the same way by every process that touches it.

- `cloudwallet.transactions` (direct): routing key `partition.<k>` -> quorum queue
  `cloudwallet.transactions.<k>` with single active consumer, a delivery limit, a maximum
  length that rejects publishes when reached, and dead-lettering to `cloudwallet.dead`.
- `cloudwallet.dead` (fanout) -> queue `cloudwallet.dead`: messages that can never be applied.
- `cloudwallet.events` (topic): `transaction.completed.<projectId>` and
  `transaction.failed.<projectId>`.

Every error of aiormq and aio-pika is translated here (`broker_errors`), into BrokerUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq.abc import ChannelFrame
from aiormq.exceptions import (
    AMQPError,
    ChannelInvalidStateError,
    ChannelPreconditionFailed,
    DeliveryError,
    PublishError,
)
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.frame import marshal
from pamqp.header import ContentHeader

from shared.amqp import frames as amqp_frames
from shared.contract.partition import queue_name, routing_key
from shared.database import DeploymentMismatch
from shared.errors import BrokerUnavailable
from shared.settings import Settings

TRANSACTIONS_EXCHANGE = "cloudwallet.transactions"
DEAD_LETTER_EXCHANGE = "cloudwallet.dead"
DEAD_LETTER_QUEUE = "cloudwallet.dead"
EVENTS_EXCHANGE = "cloudwallet.events"
# The typed errors of a lost or refusing broker: aiormq's and aio-pika's own (a closed channel's
# ChannelInvalidStateError among them) and the socket's (OSError, which TimeoutError is).
BROKER_ERRORS = (AMQPError, ChannelInvalidStateError, OSError)


def is_broker_loss(error: BaseException) -> bool:
    """Whether `error`, raised by a call to aiormq or aio-pika, means that the broker connection
    or channel is gone. Besides the typed BROKER_ERRORS, aiormq rejects what waits on a
    connection that ended with no reason of its own (`FutureStore.reject_all`) in two untyped
    ways: with a bare `Exception()` when the socket closed under it (its reader met the end of
    the stream), and with a `CancelledError` when its heartbeat found the connection stalled and
    cancelled the reader; aio-pika also cancels the calls in flight on a channel that closes.
    A CancelledError counts only when no one is cancelling the current task."""
    if isinstance(error, BROKER_ERRORS):
        return True
    if type(error) is Exception:
        return not error.args
    if isinstance(error, asyncio.CancelledError):
        task = asyncio.current_task()
        return task is not None and task.cancelling() == 0
    return False


@contextlib.contextmanager
def broker_errors(*, retry_after_s: int = 1) -> Iterator[None]:
    """Around calls to aiormq or aio-pika (and nothing else): raise BrokerUnavailable for every
    way the broker can fail them, however the connection was lost (a Connection.Close, a reset,
    a closed or stalled socket); `QueueUnroutable` for a mandatory message that no queue took,
    `QueueFull` for a nack. Any other error goes through as it is."""
    try:
        yield
    except PublishError as error:  # a subclass of DeliveryError: a return, not a nack
        raise BrokerUnavailable(
            "the transaction could not be routed to its partition queue",
            retry_after_s=retry_after_s,
            code="QueueUnroutable",
        ) from error
    except DeliveryError as error:
        raise BrokerUnavailable(
            "the partition queue is full or unavailable",
            retry_after_s=retry_after_s,
            code="QueueFull",
        ) from error
    except BaseException as error:
        if not is_broker_loss(error):
            raise
        raise BrokerUnavailable("the broker is unavailable", retry_after_s=retry_after_s) from error


async def underlying_channel(channel: AbstractChannel) -> aiormq.Channel:
    """The AMQP channel under an aio-pika channel, for the hot paths that write frames directly
    (aio-pika's message objects cost more than the publish itself). Waits while a robust
    connection reconnects."""
    underlying = await channel.get_underlay_channel()
    if not isinstance(underlying, aiormq.Channel):
        raise TypeError(f"unexpected channel type {type(underlying).__name__}")
    return underlying


# exchange, routing key, body, properties
Publish = tuple[str, str, bytes, spec.Basic.Properties]


class _Confirms:
    """What `publish_many` files in aiormq's `confirmations` under each of its delivery tags, in
    place of a future per message: it answers aiormq as a pending future would (`done`,
    `cancelled`, `set_result`, `set_exception`), counts the broker's acks and nacks, and
    settles one future when the last one is in. A future per message (created, stored, and
    awaited) was a tenth of the worker's time in the benchmark's profiles."""

    __slots__ = ("future", "nack", "pending")

    def __init__(self, future: asyncio.Future[None], count: int) -> None:
        self.future = future  # from the channel's future store: rejected if the channel closes
        self.pending = count
        self.nack: BaseException | None = None

    def done(self) -> bool:
        return self.future.done()

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def set_result(self, frame: object) -> None:
        self._settle_one()

    def set_exception(self, error: BaseException) -> None:
        self.nack = self.nack or error
        self._settle_one()

    def _settle_one(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            if self.nack is None:
                self.future.set_result(None)
            else:
                self.future.set_exception(self.nack)


def _method_frame(channel_number: int, exchange: str, key: str, mandatory: bool) -> bytes:
    """The marshalled `basic.publish` frame: the same bytes for every message to one exchange and
    routing key on one channel, so it is built once (pamqp validates the names each time)."""
    cache_key = (channel_number, exchange, key, mandatory)
    marshalled = _METHOD_FRAMES.get(cache_key)
    if marshalled is None:
        if len(_METHOD_FRAMES) >= METHOD_FRAMES_CACHED_MAX:
            _METHOD_FRAMES.clear()
        method = spec.Basic.Publish(exchange=exchange, routing_key=key, mandatory=mandatory)
        marshalled = marshal(method, channel_number)
        _METHOD_FRAMES[cache_key] = marshalled
    return marshalled


METHOD_FRAMES_CACHED_MAX = 4096
_METHOD_FRAMES: dict[tuple[int, str, str, bool], bytes] = {}


async def publish_many(
    channel: AbstractChannel, messages: Sequence[Publish], *, mandatory: bool = False
) -> None:
    """Publish messages on a confirming channel, in order, and wait for the broker to confirm
    them all; a nack raises `DeliveryError`, a closed channel `ChannelInvalidStateError` (or the
    error that closed it, untyped ones included: `is_broker_loss`), and with `mandatory` a
    message that no queue took comes back as `PublishError` (on a channel opened with
    `on_return_raises`; each message then needs its own `message_id`, by which aiormq matches
    a return to its delivery tag). Callers translate them with `broker_errors`. All of their
    frames are marshalled at once and handed to the connection's writer in one piece, under
    the channel's lock taken once, with one confirmation counter for them all (`_Confirms`):
    what aiormq's `basic_publish` does for one message, with its per-message lock, timeout,
    task, future and write taken out of a hot loop. The caller bounds the wait; cancelled
    before its frames were queued, it takes its delivery tags back, as aiormq does."""
    if not messages:
        return
    underlay = await underlying_channel(channel)
    if not underlay.publisher_confirms:
        raise ValueError("publish_many needs a channel with publisher confirms")
    if mandatory and not all(properties.message_id for *_, properties in messages):
        raise ValueError("a mandatory publish needs a message_id for each message")
    confirms = _Confirms(underlay.create_future(), len(messages))
    number, size_max = underlay.number, underlay.max_content_size
    parts: list[bytes] = []
    returnable: dict[str, int] = {}
    async with underlay.lock:
        first_tag = underlay.delivery_tag + 1
        for exchange, key, body, properties in messages:
            underlay.delivery_tag += 1
            underlay.confirmations[underlay.delivery_tag] = confirms  # type: ignore[assignment]
            if mandatory and properties.message_id:
                returnable[properties.message_id] = underlay.delivery_tag
            parts.append(_method_frame(number, exchange, key, mandatory))
            parts.append(marshal(ContentHeader(properties=properties, body_size=len(body)), number))
            for start in range(0, len(body), size_max):
                parts.append(marshal(ContentBody(body[start : start + size_max]), number))
        underlay.message_id_delivery_tag.update(returnable)
        frame = ChannelFrame(payload=b"".join(parts), should_close=False)
        try:
            # Queued in one call before the lock is released, so that the delivery tags counted
            # above match the order in which the broker receives the messages.
            await underlay.write_queue.put(frame)
        except BaseException:
            # Not queued (the writer's queue was full and the wait was cancelled): the broker
            # has not seen these messages, so their tags go to the next publish.
            for tag in range(first_tag, underlay.delivery_tag + 1):
                underlay.confirmations.pop(tag, None)
            underlay.delivery_tag = first_tag - 1
            _forget_returnable(underlay, returnable)
            confirms.future.cancel()
            raise
    try:
        await asyncio.wait([confirms.future])
    finally:
        _forget_returnable(underlay, returnable)
    if confirms.future.cancelled():  # what aiormq does to its futures when the channel closes
        raise ChannelInvalidStateError("the channel closed before the broker confirmed")
    confirms.future.result()  # a nack raises DeliveryError, a return PublishError


def _forget_returnable(underlay: aiormq.Channel, returnable: dict[str, int]) -> None:
    for message_id, tag in returnable.items():
        if underlay.message_id_delivery_tag.get(message_id) == tag:
            del underlay.message_id_delivery_tag[message_id]


async def connect(
    settings: Settings,
    *,
    name: str,
    connection_class: type[aio_pika.RobustConnection] = aio_pika.RobustConnection,
) -> AbstractRobustConnection:
    """A robust connection whose heartbeat notices a dead peer within seconds, and which
    reconnects (restoring its channels, queues and consumers) soon after the broker is back,
    each attempt bounded by `amqp_connect_timeout_ms`. It reads frames in chunks
    (`shared/amqp/frames.py`)."""
    amqp_frames.install()
    return await aio_pika.connect_robust(
        settings.amqp_url.get_secret_value(),
        connection_class=connection_class,
        heartbeat=settings.amqp_heartbeat_s,
        timeout=settings.amqp_connect_timeout_ms / 1000,  # each attempt, reconnections too
        reconnect_interval=settings.amqp_reconnect_interval_ms / 1000,
        client_properties={"connection_name": name},
    )


def partition_queue_arguments(settings: Settings) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        "x-delivery-limit": settings.delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-max-length": settings.queue_length_max,
        "x-overflow": "reject-publish",
    }


async def declare_topology(channel: AbstractChannel, settings: Settings) -> AbstractExchange:
    """Declare every exchange and queue (idempotent); return the transactions exchange."""
    dead = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead)
    await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    transactions = await channel.declare_exchange(
        TRANSACTIONS_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    arguments = partition_queue_arguments(settings)
    for partition in range(settings.partition_count):
        try:
            queue = await channel.declare_queue(
                queue_name(partition), durable=True, arguments=arguments
            )
        except ChannelPreconditionFailed as error:
            raise DeploymentMismatch(
                f"queue {queue_name(partition)} exists with other arguments than {arguments}"
                " (a quorum queue's delivery limit and maximum length are fixed when it is"
                " declared): drain it and delete it, then start again; see"
                f" docs/guarantees.md ({error})"
            ) from None
        await queue.bind(transactions, routing_key(partition))
    return transactions
