"""Publishing many messages with one confirmation counter. aiormq's `basic_publish` takes the
channel's lock, builds and validates a `basic.publish` frame, files a future in the channel's
`confirmations` and queues a write, for each message. `publish_many` marshals all of its
messages' frames at once (the `basic.publish` frame cached per channel, exchange and routing
key), queues them as one write under the lock taken once, and files one `_Confirms` under every
delivery tag, which aiormq settles as it would its futures. Without it, publishing each message
through `basic_publish`, a writer draining a queue spent 59-60% more CPU per transaction
(docs/decisions/0011-hand-written-protocol-code.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiormq
from aio_pika.abc import AbstractChannel
from aiormq.abc import ChannelFrame
from aiormq.exceptions import ChannelInvalidStateError
from pamqp import commands as spec
from pamqp.frame import marshal

from shared.fastpath.content import content_frames

# exchange, routing key, body, properties
Publish = tuple[str, str, bytes, spec.Basic.Properties]
METHOD_FRAMES_CACHED_MAX = 4096
_METHOD_FRAMES: dict[tuple[int, str, str, bool], bytes] = {}


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


async def publish_many(
    channel: AbstractChannel, messages: Sequence[Publish], *, mandatory: bool = False
) -> None:
    """Publish messages on a confirming channel, in order, and wait for the broker to confirm
    them all; a nack raises `DeliveryError`, a closed channel `ChannelInvalidStateError` (or the
    error that closed it, untyped ones included: `shared.amqp.broker.is_broker_loss`), and with
    `mandatory` a
    message that no queue took comes back as `PublishError` (on a channel opened with
    `on_return_raises`; each message then needs its own `message_id`, by which aiormq matches
    a return to its delivery tag). Callers translate them (`shared.amqp.broker.broker_errors`).
    All of their
    frames are marshalled at once and handed to the connection's writer in one piece, under
    the channel's lock taken once, with one confirmation counter for them all (`_Confirms`):
    what aiormq's `basic_publish` does for one message, with its per-message lock, timeout,
    task, future and write taken out of a hot loop. The caller bounds the wait; cancelled
    before its frames were queued, it takes its delivery tags back, as aiormq does."""
    if not messages:
        return
    underlay = await channel.get_underlay_channel()  # waits while a robust connection reconnects
    if not isinstance(underlay, aiormq.Channel):
        raise TypeError(f"unexpected channel type {type(underlay).__name__}")
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
            parts.extend(content_frames(number, properties, body, size_max))
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
