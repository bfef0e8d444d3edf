"""The RabbitMQ topology, declared the same way by every process that touches it.

- `cloudwallet.transactions` (direct): routing key `partition.<k>` -> quorum queue
  `cloudwallet.transactions.<k>` with single active consumer, a delivery limit, a maximum
  length that rejects publishes when reached, and dead-lettering to `cloudwallet.dead`.
- `cloudwallet.dead` (fanout) -> queue `cloudwallet.dead`: messages that can never be applied.
- `cloudwallet.events` (topic): `transaction.completed.<projectId>` and
  `transaction.failed.<projectId>`.
"""

from __future__ import annotations

from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq.exceptions import ChannelPreconditionFailed

from shared.database import DeploymentMismatch
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


async def connect(settings: Settings, *, name: str) -> AbstractRobustConnection:
    """A robust connection whose heartbeat notices a dead peer within seconds, and which
    reconnects (restoring its channels, queues and consumers) soon after the broker is back."""
    return await aio_pika.connect_robust(
        settings.amqp_url.get_secret_value(),
        heartbeat=settings.amqp_heartbeat_s,
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
