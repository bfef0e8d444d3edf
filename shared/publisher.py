"""The publisher client: how the gateway, and internal services with no HTTP access, put a
transaction on its project's partition queue. A publish returns only once the broker has
confirmed it; broker errors become BrokerUnavailable here and nowhere else.

Publishes go round-robin over a few long-lived confirming channels, so that many confirms are
in flight at once; each publish queues its frames on the channel without waiting for the
socket to drain, and waits only for the broker's confirm. Transactions are applied in the
order the broker received them: a client that waits for one 202 before the next submit keeps
its order, and a batch is one message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, DeliveryError, PublishError
from pamqp import commands as spec

from shared import broker
from shared.errors import BrokerUnavailable
from shared.messages import TRANSACTION_BATCH_TYPE, TransactionMessage
from shared.partition import partition_of, routing_key
from shared.settings import Settings

PERSISTENT = 2


class Publisher:
    """Publishes transaction messages with publisher confirms on long-lived channels."""

    def __init__(
        self,
        settings: Settings,
        connection: AbstractRobustConnection,
        channels: Sequence[AbstractChannel],
    ) -> None:
        self._settings = settings
        self._connection = connection
        self._channels = channels
        self._next_channel = 0
        self._confirm_timeout_s = settings.publish_confirm_timeout_ms / 1000

    @classmethod
    async def open(cls, settings: Settings, *, name: str = "cloudwallet-publisher") -> Publisher:
        """Connect, open the confirming channels and declare the topology."""
        connection = await broker.connect(settings, name=name)
        try:
            channels = [
                await connection.channel(publisher_confirms=True, on_return_raises=True)
                for _ in range(settings.publisher_channel_count)
            ]
            await broker.declare_topology(channels[0], settings)
        except BaseException:
            await connection.close()
            raise
        return cls(settings, connection, channels)

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
        await self.publish_body(
            message.project_id,
            message.to_json(),
            message_id=message.id,
            reply_to=reply_to,
            correlation_id=correlation_id,
        )

    async def publish_batch(self, project_id: str, bodies: list[dict[str, Any]]) -> None:
        """Publish transactions of one project, given as `message_body` objects, as one
        TransactionBatchMessage, and wait for the broker's confirm: all or none are queued."""
        await self.publish_body(
            project_id,
            orjson.dumps({"v": 1, "transactions": bodies}),
            message_id=bodies[0]["id"],
            message_type=TRANSACTION_BATCH_TYPE,
        )

    async def publish_body(
        self,
        project_id: str,
        body: bytes,
        *,
        message_id: str,
        message_type: str | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Publish an encoded message body to the project's partition and wait for the confirm."""
        key = routing_key(partition_of(project_id, self._settings.partition_count))
        properties = spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=PERSISTENT,
            message_id=message_id,
            message_type=message_type,
            reply_to=reply_to,
            correlation_id=correlation_id,
        )
        channel = self._channels[self._next_channel]
        self._next_channel = (self._next_channel + 1) % len(self._channels)
        retry_after_s = self._settings.retry_after_s
        try:
            underlay = await broker.underlying_channel(channel)
            await underlay.basic_publish(
                body,
                exchange=broker.TRANSACTIONS_EXCHANGE,
                routing_key=key,
                properties=properties,
                mandatory=True,
                timeout=self._confirm_timeout_s,
                # Waiting for the socket to drain would hold the channel's lock across a trip
                # through the writer task and serialize every publish on the channel; the
                # confirm is what we wait for.
                wait=False,
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
