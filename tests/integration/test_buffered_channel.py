"""`BufferedChannel` against the real broker: an `InlineConsumer` gets every delivery in queue
order from the channel's own reader, with no task of its own; one that raises closes the
channel, gets nothing after the failed delivery, and the broker delivers that one again (to a
robust channel, reopened); any other consumer aiormq calls as before, a task for each
delivery; and a channel queues up to `CHANNEL_FRAMES_BUFFERED_MAX` frames for its reader."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import aiormq
import pytest
from aiormq.abc import AbstractChannel, DeliveredMessage

from shared.amqp import broker
from shared.fastpath import channels
from shared.fastpath.channels import (
    CHANNEL_FRAMES_BUFFERED_MAX,
    BufferedChannel,
    InlineConsumer,
    InlineQueue,
)
from shared.ids import new_id
from shared.settings import Settings
from worker import delivery

MESSAGES = 500
RECEIVE_TIMEOUT_S = 10


@pytest.fixture
async def channel(migrated: Settings) -> AsyncIterator[AbstractChannel]:
    channels.install()
    connection = await aiormq.connect(migrated.amqp_url.get_secret_value())
    try:
        yield await connection.channel()
    finally:
        await connection.close()


def bodies(count: int) -> list[bytes]:
    return [f"message {number}".encode() for number in range(count)]


async def filled_queue(channel: AbstractChannel, count: int) -> str:
    declared = await channel.queue_declare(f"test-inline-{new_id()}", exclusive=True)
    queue = declared.queue
    assert queue is not None
    await fill(channel, queue, count)
    return queue


async def fill(channel: AbstractChannel, queue: str, count: int) -> None:
    await asyncio.gather(
        *(channel.basic_publish(body, routing_key=queue) for body in bodies(count))
    )


class Received:
    """The bodies received, with the task each was received in; `done` once `count` are in."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.bodies: list[bytes] = []
        self.tasks: list[asyncio.Task[object] | None] = []
        self.done = asyncio.Event()

    def keep(self, message: DeliveredMessage) -> None:
        self.bodies.append(message.body)
        self.tasks.append(asyncio.current_task())
        if len(self.bodies) == self.count:
            self.done.set()


async def consume(
    channel: AbstractChannel, queue: str, callback: Callable[..., object], received: Received
) -> None:
    await channel.basic_consume(queue, callback, no_ack=True)  # type: ignore[arg-type]
    await asyncio.wait_for(received.done.wait(), timeout=RECEIVE_TIMEOUT_S)


async def test_channels_are_buffered(channel: AbstractChannel) -> None:
    assert isinstance(channel, BufferedChannel)
    assert channel.frames.maxsize == CHANNEL_FRAMES_BUFFERED_MAX


async def test_an_inline_consumer_gets_every_delivery_in_order_in_the_channels_reader(
    channel: AbstractChannel,
) -> None:
    queue = await filled_queue(channel, MESSAGES)
    received = Received(MESSAGES)
    await consume(channel, queue, InlineConsumer(received.keep), received)
    assert received.bodies == bodies(MESSAGES)
    readers = set(received.tasks)
    assert len(readers) == 1  # no task per delivery: all were read by one task
    assert None not in readers and asyncio.current_task() not in readers


async def test_an_inline_consumer_that_raises_closes_the_channel_and_its_delivery_comes_back(
    channel: AbstractChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """The failed delivery is never skipped: nothing read after it reaches the consumer, so the
    writer's multiple-ack of what it holds cannot cover it, and the channel closes, so the
    broker delivers it again."""
    queue = await filled_queue(channel, MESSAGES)
    kept: list[DeliveredMessage] = []

    def keep_but_the_third(message: DeliveredMessage) -> None:
        if message.body == b"message 2":
            raise RuntimeError("a consumer's own error")
        kept.append(message)

    with caplog.at_level(logging.ERROR, logger="shared.fastpath.channels"):
        await channel.basic_consume(queue, InlineConsumer(keep_but_the_third), no_ack=False)  # type: ignore[arg-type]
        await asyncio.wait([channel.closing], timeout=RECEIVE_TIMEOUT_S)
    assert channel.is_closed
    assert [message.body for message in kept] == bodies(2)
    assert "Consumer callback failed on delivery 3" in caplog.text
    # What the writer does with what it holds, a multiple-ack on the last, acknowledges nothing.
    await delivery.ack([delivery.Delivery(message) for message in kept])
    again = await channel.connection.channel()
    received = Received(MESSAGES)
    await again.basic_consume(queue, InlineConsumer(received.keep), no_ack=True)  # type: ignore[arg-type]
    await asyncio.wait_for(received.done.wait(), timeout=RECEIVE_TIMEOUT_S)
    assert received.bodies == bodies(MESSAGES)


async def test_a_robust_channel_whose_inline_consumer_raised_consumes_again(
    migrated: Settings,
) -> None:
    """A writer's robust channel is reopened and its consumer restored: the delivery whose
    callback failed arrives again, flagged as redelivered."""
    connection = await broker.connect(
        migrated, name="test-inline-robust", connection_class=delivery.WriterConnection
    )
    try:
        robust = await connection.channel()
        queue = await robust.declare_queue(f"test-inline-{new_id()}", exclusive=True)
        await fill(await broker.underlying_channel(robust), queue.name, 10)
        failed: list[bytes] = []
        received = Received(10)
        redelivered: dict[bytes, bool] = {}

        def fail_once(message: DeliveredMessage) -> None:
            if message.body == b"message 2" and not failed:
                failed.append(message.body)
                raise RuntimeError("a consumer's own error")
            if message.body not in received.bodies:
                received.keep(message)
                redelivered[message.body] = bool(message.redelivered)

        assert isinstance(queue, InlineQueue)
        await queue.consume(InlineConsumer(fail_once), no_ack=False)
        await asyncio.wait_for(received.done.wait(), timeout=RECEIVE_TIMEOUT_S)
    finally:
        await connection.close()
    assert failed == [b"message 2"]
    assert sorted(received.bodies) == sorted(bodies(10))
    assert redelivered[b"message 2"] is True


async def test_a_coroutine_consumer_gets_a_task_per_delivery_as_aiormq_gives(
    channel: AbstractChannel,
) -> None:
    queue = await filled_queue(channel, MESSAGES)
    received = Received(MESSAGES)

    async def keep(message: DeliveredMessage) -> None:
        received.keep(message)

    await consume(channel, queue, keep, received)
    assert received.bodies == bodies(MESSAGES)
    assert len(set(received.tasks)) == MESSAGES
