"""The publisher client: how the gateway, and internal services with no HTTP access, put a
transaction on its project's partition queue. A publish returns only once the broker has
confirmed it; broker errors become BrokerUnavailable here and nowhere else."""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, DeliveryError, PublishError

from shared import broker
from shared.errors import BrokerUnavailable
from shared.messages import TransactionMessage
from shared.partition import partition_of, routing_key
from shared.settings import Settings


class Publisher:
    """Publishes transaction messages with publisher confirms on one long-lived channel."""

    def __init__(
        self,
        settings: Settings,
        connection: AbstractRobustConnection,
        channel: AbstractChannel,
        exchange: AbstractExchange,
    ) -> None:
        self._settings = settings
        self._connection = connection
        self._channel = channel
        self._exchange = exchange
        self._confirm_timeout_s = settings.publish_confirm_timeout_ms / 1000

    @classmethod
    async def open(cls, settings: Settings, *, name: str = "cloudwallet-publisher") -> Publisher:
        """Connect, open a confirming channel and declare the topology."""
        connection = await broker.connect(settings, name=name)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await broker.declare_topology(channel, settings)
        except BaseException:
            await connection.close()
            raise
        return cls(settings, connection, channel, exchange)

    async def close(self) -> None:
        await self._connection.close()

    async def publish(
        self,
        message: TransactionMessage,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Publish `message` to its project's partition and wait for the broker's confirm."""
        partition = partition_of(message.project_id, self._settings.partition_count)
        amqp_message = aio_pika.Message(
            message.to_json(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.id,
            reply_to=reply_to,
            correlation_id=correlation_id,
        )
        retry_after_s = self._settings.retry_after_s
        try:
            await self._exchange.publish(
                amqp_message,
                routing_key(partition),
                mandatory=True,
                timeout=self._confirm_timeout_s,
            )
        except TimeoutError:
            raise BrokerUnavailable(
                "the broker did not confirm the transaction in time", retry_after_s=retry_after_s
            ) from None
        except DeliveryError:
            raise BrokerUnavailable(
                "the partition queue is full", retry_after_s=retry_after_s, code="QueueFull"
            ) from None
        except PublishError:
            raise BrokerUnavailable(
                "the transaction could not be routed to its partition queue",
                retry_after_s=retry_after_s,
            ) from None
        except (AMQPError, ChannelInvalidStateError, ConnectionError, RuntimeError) as error:
            raise BrokerUnavailable(
                "the broker is unavailable", retry_after_s=retry_after_s
            ) from error

    async def publish_many(
        self, messages: list[TransactionMessage]
    ) -> list[BrokerUnavailable | None]:
        """Publish `messages` in order on one channel, waiting for all the confirms together;
        for each message, None once confirmed or the error that stopped it."""
        results = await asyncio.gather(
            *(self.publish(message) for message in messages), return_exceptions=True
        )
        outcomes: list[BrokerUnavailable | None] = []
        for result in results:
            if isinstance(result, BrokerUnavailable) or result is None:
                outcomes.append(result)
            else:
                raise result
        return outcomes
