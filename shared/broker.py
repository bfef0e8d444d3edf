"""The RabbitMQ topology, declared the same way by every process that touches it.

- `cloudwallet.transactions` (direct): routing key `partition.<k>` -> quorum queue
  `cloudwallet.transactions.<k>` with single active consumer, a delivery limit, a maximum
  length that rejects publishes when reached, and dead-lettering to `cloudwallet.dead`.
- `cloudwallet.dead` (fanout) -> queue `cloudwallet.dead`: messages that can never be applied.
- `cloudwallet.events` (topic): `transaction.completed.<projectId>` and
  `transaction.failed.<projectId>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from shared.partition import queue_name, routing_key
from shared.settings import Settings

TRANSACTIONS_EXCHANGE = "cloudwallet.transactions"
DEAD_LETTER_EXCHANGE = "cloudwallet.dead"
DEAD_LETTER_QUEUE = "cloudwallet.dead"
EVENTS_EXCHANGE = "cloudwallet.events"


async def underlying_channel(channel: AbstractChannel) -> aiormq.Channel:
    """The AMQP channel under an aio-pika channel, for the hot paths that write frames directly
    (aio-pika's message objects cost more than the publish itself). Waits while a robust
    connection reconnects."""
    underlying = await channel.get_underlay_channel()
    if not isinstance(underlying, aiormq.Channel):
        raise TypeError(f"unexpected channel type {type(underlying).__name__}")
    return underlying


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish without a confirm: exchange, routing key, body and properties."""

    exchange: str
    routing_key: str
    body: bytes
    properties: spec.Basic.Properties


async def publish_unconfirmed(channel: aiormq.Channel, messages: list[Outgoing]) -> None:
    """Write many messages to a channel without publisher confirms in one frame sequence: one
    hand-over to the connection's writer, where `basic_publish` costs a lock, a future and a
    writer round per message. The channel must not be in confirm mode (the broker would
    confirm delivery tags the client never counted)."""
    if channel.publisher_confirms:
        raise ValueError("publish_unconfirmed needs a channel without publisher confirms")
    frames: list[Any] = []
    for message in messages:
        frames.append(
            spec.Basic.Publish(exchange=message.exchange, routing_key=message.routing_key)
        )
        frames.append(ContentHeader(body_size=len(message.body), properties=message.properties))
        body = message.body
        for start in range(0, len(body), channel.max_content_size):
            frames.append(ContentBody(body[start : start + channel.max_content_size]))
    await channel.write_queue.put(
        ChannelFrame.marshall(channel_number=channel.number, frames=frames)
    )


async def connect(settings: Settings, *, name: str) -> AbstractRobustConnection:
    """A robust connection whose heartbeat notices a dead peer within seconds."""
    return await aio_pika.connect_robust(
        settings.amqp_url.get_secret_value(),
        heartbeat=settings.amqp_heartbeat_s,
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
        queue = await channel.declare_queue(
            queue_name(partition), durable=True, arguments=arguments
        )
        await queue.bind(transactions, routing_key(partition))
    return transactions
