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
from collections.abc import Iterator
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.connection import make_url
from aiormq.exceptions import (
    AMQPError,
    ChannelInvalidStateError,
    ChannelPreconditionFailed,
    DeliveryError,
    PublishError,
)

from shared.contract.partition import queue_name, routing_key
from shared.database import DeploymentMismatch
from shared.errors import BrokerUnavailable
from shared.fastpath import channels
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


async def connect(
    settings: Settings,
    *,
    name: str,
    connection_class: type[aio_pika.RobustConnection] = aio_pika.RobustConnection,
) -> AbstractRobustConnection:
    """A robust connection whose heartbeat notices a dead peer within seconds, and which
    reconnects (restoring its channels, queues and consumers) soon after the broker is back,
    each attempt bounded by `amqp_connect_timeout_ms`. It reads frames in chunks, and its
    channels can call a writer's consumer as each delivery is read (`shared/fastpath/`)."""
    channels.install()
    # What aio_pika.connect_robust does, but a connection whose first attempt fails is closed
    # here: dropped unclosed, aio-pika would close it from its finalizer, outside any task.
    heartbeat_s = settings.amqp_heartbeat_s
    reconnect_interval_s = settings.amqp_reconnect_interval_ms / 1000
    url = make_url(
        settings.amqp_url.get_secret_value(),
        heartbeat=heartbeat_s,
        reconnect_interval=reconnect_interval_s,
    )
    connection = connection_class(
        url,
        client_properties={"connection_name": name},
        heartbeat=heartbeat_s,
        reconnect_interval=reconnect_interval_s,
    )
    try:
        await connection.connect(timeout=settings.amqp_connect_timeout_ms / 1000)
    except BaseException:
        await connection.close()
        raise
    return connection


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
