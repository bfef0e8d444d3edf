"""`BufferedChannel` against the real broker: an `InlineConsumer` gets every delivery in queue
order from the channel's own reader, with no task of its own; one that raises is logged and the
deliveries after it still arrive; any other consumer aiormq calls as before, a task for each
delivery; and a channel queues up to `CHANNEL_FRAMES_BUFFERED_MAX` frames for its reader."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import aiormq
import pytest
from aiormq.abc import AbstractChannel, DeliveredMessage

from shared import amqp_frames
from shared.amqp_frames import CHANNEL_FRAMES_BUFFERED_MAX, BufferedChannel, InlineConsumer
from shared.ids import new_id
from shared.settings import Settings

MESSAGES = 500
RECEIVE_TIMEOUT_S = 10


@pytest.fixture
async def channel(migrated: Settings) -> AsyncIterator[AbstractChannel]:
    amqp_frames.install()
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
    await asyncio.gather(
        *(channel.basic_publish(body, routing_key=queue) for body in bodies(count))
    )
    return queue


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


async def test_an_inline_consumer_that_raises_is_logged_and_the_next_deliveries_arrive(
    channel: AbstractChannel, caplog: pytest.LogCaptureFixture
) -> None:
    queue = await filled_queue(channel, MESSAGES)
    received = Received(MESSAGES - 1)

    def keep_but_the_third(message: DeliveredMessage) -> None:
        if message.body == b"message 2":
            raise RuntimeError("a consumer's own error")
        received.keep(message)

    with caplog.at_level(logging.ERROR, logger="shared.amqp_frames"):
        await consume(channel, queue, InlineConsumer(keep_but_the_third), received)
    assert received.bodies == [body for body in bodies(MESSAGES) if body != b"message 2"]
    assert [record.message for record in caplog.records] == ["Consumer callback failed"]
    assert caplog.records[0].exc_info is not None


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
