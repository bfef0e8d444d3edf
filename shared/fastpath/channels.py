"""Deliveries handed to a writer as its channel reads them. aiormq bounds each channel's frame
queue at 10 frames, so its connection reader and the channel's reader take turns every three
deliveries, and it runs every consumer callback in a task of its own; aio-pika adds a task and
an IncomingMessage per delivery. `BufferedChannel` queues up to `CHANNEL_FRAMES_BUFFERED_MAX`
frames, and calls an `InlineConsumer` from the channel's reader as each delivery is read, with
no task. `InlineQueue` is aio-pika's robust queue consuming with an `InlineConsumer` directly on
aiormq's channel, recorded where aio-pika restores consumers after a reconnect. Without them a
writer draining a queue spent 20-45% more CPU per transaction
(docs/decisions/0011-hand-written-protocol-code.md).

`install()` makes every aiormq connection opened afterwards in the process read frames with
`frames.BufferedFrameReceiver` into these channels (`shared/amqp/broker.py` `connect` calls
it); any other consumer than an `InlineConsumer` is aiormq's to call, as before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiormq.channel
import aiormq.connection
from aio_pika import RobustQueue
from aio_pika.abc import ConsumerTag
from aiormq.abc import AbstractConnection, DeliveredMessage
from aiormq.exceptions import ChannelInvalidStateError
from pamqp import commands as spec
from pamqp.header import ContentHeader

from shared.fastpath.frames import BufferedFrameReceiver

log = logging.getLogger(__name__)
# Frames a channel's queue holds for its reader before the connection's reader waits. The
# broker sends a consumer at most its prefetch in deliveries (three frames each, more for a
# body above the frame size) and a publisher one confirm per publish in flight.
CHANNEL_FRAMES_BUFFERED_MAX = 16_384


class InlineConsumer:
    """A consumer callback that a `BufferedChannel` calls as it reads each delivery, in the
    channel's reader, where aiormq would start a task for each one. It must neither block nor
    raise: the channel's next frame waits for it, and an error closes the channel."""

    __slots__ = ("_callback",)

    def __init__(self, callback: Callable[[DeliveredMessage], None]) -> None:
        self._callback = callback

    def __call__(self, message: DeliveredMessage) -> None:
        self._callback(message)


class BufferedChannel(aiormq.channel.Channel):
    """aiormq's channel, queueing up to `CHANNEL_FRAMES_BUFFERED_MAX` frames whatever
    `frame_buffer` its opener names (aiormq's connection names 10), and calling an
    `InlineConsumer` without a task. Any other consumer is aiormq's to call, as before.

    If an inline consumer raises, the delivery it was given is lost to the consumer, and a
    later multiple-ack would acknowledge it unapplied: so the channel closes (the broker then
    returns every unacknowledged delivery to the queue, that one included), and no delivery read
    after it reaches the consumer. A robust channel over it is reopened by aio-pika."""

    def __init__(
        self,
        connector: AbstractConnection,
        number: int,
        publisher_confirms: bool = True,
        frame_buffer: int | None = None,
        on_return_raises: bool = True,
    ) -> None:
        super().__init__(
            connector,
            number,
            publisher_confirms=publisher_confirms,
            frame_buffer=CHANNEL_FRAMES_BUFFERED_MAX,
            on_return_raises=on_return_raises,
        )
        self._consumer_failure: asyncio.Task[None] | None = None

    async def _on_deliver_frame(self, frame: spec.Basic.Deliver) -> None:
        consumer = self.consumers.get(frame.consumer_tag or "")
        # aiormq keeps a plain callable wrapped in a coroutine function (`tools.awaitable`).
        inline = getattr(consumer, "__wrapped__", None)
        if not isinstance(inline, InlineConsumer):
            await super()._on_deliver_frame(frame)
            return
        header = await self._get_frame()
        if not isinstance(header, ContentHeader):
            raise ValueError(f"Unexpected frame {header!r} instead of ContentHeader", header)
        message = await self._read_content(frame, header)
        if self._consumer_failure is not None:
            return  # read, so that the broker's Close-Ok is read, and dropped
        try:
            inline(message)
        except Exception as error:
            log.error(
                "Consumer callback failed on delivery %s; closing channel %s so that the broker"
                " delivers it again: %r",
                frame.delivery_tag,
                self.number,
                error,
                exc_info=True,
            )
            # The reader goes on, to read the broker's Close-Ok; the close is a task of its own.
            reason = ChannelInvalidStateError(f"a consumer callback failed: {error!r}")
            closing = self.close(reason, timeout=self.CHANNEL_CLOSE_TIMEOUT)
            self._consumer_failure = asyncio.get_running_loop().create_task(closing)
            self._consumer_failure.add_done_callback(_report_close)


def _report_close(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing a channel whose consumer failed: %r", task.exception())


def install() -> None:
    """Read frames with BufferedFrameReceiver, into BufferedChannels, on every aiormq connection
    opened from now on in this process (aiormq looks both classes up when it connects and when
    it opens a channel)."""
    aiormq.connection.FrameReceiver = BufferedFrameReceiver  # type: ignore[misc]
    aiormq.connection.Channel = BufferedChannel  # type: ignore[attr-defined]


class InlineQueue(RobustQueue):
    """aio-pika's robust queue, whose consumer gets aiormq's deliveries as they are, as the
    channel reads them (an `InlineConsumer`), where aio-pika would build an IncomingMessage and
    a task for each, and aiormq one more task. Its consumer is still restored with the channel
    after a broker outage: it is recorded in `RobustQueue._consumers`, which aio-pika's
    `restore` consumes again with."""

    async def consume(  # type: ignore[override]
        self,
        callback: InlineConsumer,
        no_ack: bool = False,
        exclusive: bool = False,
        arguments: dict[str, Any] | None = None,
        consumer_tag: ConsumerTag | None = None,
    ) -> ConsumerTag:
        """Consume with `callback`, and again with the same arguments when the channel is
        restored (what RobustQueue.restore calls)."""
        channel = await self.channel.get_underlay_channel()
        consumed = await channel.basic_consume(
            queue=self.name,
            consumer_callback=callback,  # type: ignore[arg-type]  # aiormq wraps a plain callable
            exclusive=exclusive,
            no_ack=no_ack,
            arguments=arguments,
            consumer_tag=consumer_tag,
        )
        if consumed.consumer_tag is None:
            raise ChannelInvalidStateError("the broker named no consumer tag")
        self._consumers[consumed.consumer_tag] = dict(
            callback=callback, no_ack=no_ack, exclusive=exclusive, arguments=arguments
        )
        return consumed.consumer_tag
