"""`publish_many` against the real broker: every message arrives in order and is confirmed, and
a nack from the broker is raised."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection
from aiormq.exceptions import DeliveryError
from pamqp import commands as spec

from shared.broker import Publish, publish_many
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
