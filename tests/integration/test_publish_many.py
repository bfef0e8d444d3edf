"""`publish_many` against the real broker: every message arrives in order and is confirmed, a
nack or (with `mandatory`) a return from the broker is raised, and a publish cancelled before
its frames were queued leaves the channel's confirms in step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection
from aiormq.exceptions import DeliveryError, PublishError
from pamqp import commands as spec

from shared.amqp.broker import underlying_channel
from shared.fastpath.confirms import Publish, publish_many
from shared.ids import new_id
from shared.settings import Settings

MESSAGES = 300


@pytest.fixture
async def connection(migrated: Settings) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(migrated.amqp_url.get_secret_value())
    try:
        yield connection
    finally:
        await connection.close()


def messages(queue: str, count: int) -> list[Publish]:
    return [
        ("", queue, f"message {number}".encode(), spec.Basic.Properties(message_id=str(number)))
        for number in range(count)
    ]


async def drain(queue: AbstractQueue) -> list[bytes]:
    bodies = []
    while (received := await queue.get(no_ack=True, fail=False)) is not None:
        bodies.append(received.body)
    return bodies


async def test_every_message_arrives_in_order_once_confirmed(
    connection: AbstractRobustConnection,
) -> None:
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(f"test-publish-{new_id()}", exclusive=True)
    for _ in range(2):  # the second call reuses the cached method frames
        await publish_many(channel, messages(queue.name, MESSAGES))
    await publish_many(channel, [])
    bodies = await drain(queue)
    expected = [f"message {number}".encode() for number in range(MESSAGES)]
    assert bodies == expected * 2


async def test_a_nack_is_raised(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel(publisher_confirms=True)
    full = await channel.declare_queue(
        f"test-publish-full-{new_id()}",
        exclusive=True,
        arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )
    with pytest.raises(DeliveryError):
        await publish_many(channel, messages(full.name, 10))
    # The channel goes on: the next publish to a queue with room is confirmed.
    room = await channel.declare_queue(f"test-publish-room-{new_id()}", exclusive=True)
    await publish_many(channel, messages(room.name, 10))
    assert len(await drain(room)) == 10


async def test_a_mandatory_message_no_queue_takes_comes_back_as_publish_error(
    connection: AbstractRobustConnection,
) -> None:
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    room = await channel.declare_queue(f"test-publish-room-{new_id()}", exclusive=True)
    routed = messages(room.name, 3)
    unroutable: Publish = (
        "",
        f"test-publish-nowhere-{new_id()}",
        b"lost",
        spec.Basic.Properties(message_id="nowhere"),
    )
    with pytest.raises(PublishError):
        await publish_many(channel, [routed[0], unroutable, routed[1]], mandatory=True)
    await publish_many(channel, routed[2:], mandatory=True)
    assert await drain(room) == [b"message 0", b"message 1", b"message 2"]
    underlay = await underlying_channel(channel)
    assert underlay.message_id_delivery_tag == {}


async def test_a_publish_cancelled_before_its_frames_left_takes_its_tags_back(
    connection: AbstractRobustConnection,
) -> None:
    """Cancelled while the connection's frame queue is full, a publish leaves the channel's
    count of delivery tags as the broker has it, so that later confirms settle later
    publishes (counted ahead, they would wait for confirms that never come)."""
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(f"test-publish-{new_id()}", exclusive=True)
    underlay = await underlying_channel(channel)
    writer_queue = underlay.write_queue
    underlay.write_queue = asyncio.Queue(maxsize=1)
    underlay.write_queue.put_nowait(object())  # full: the publish waits to queue its frames
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await publish_many(channel, messages(queue.name, 5))
    finally:
        underlay.write_queue = writer_queue
    assert underlay.confirmations == {}
    async with asyncio.timeout(5):
        await publish_many(channel, messages(queue.name, 2))
    assert await drain(queue) == [b"message 0", b"message 1"]
