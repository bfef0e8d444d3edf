"""The client for internal services with no HTTP access: submit a transaction over AMQP alone,
and optionally wait for its final state on a private reply queue.

    client = await TransactionClient.open(settings)
    transaction_id = await client.publish(project_id, "order-7", operations)
    final = await client.submit_and_wait(project_id, "order-8", operations)
    await client.close()

Messages use the same model (`TransactionMessage`) and the same partition function as the
gateway. Reference IDs are deduplicated by the worker in PostgreSQL: submitting a reference ID
again yields the transaction that already holds it, never a second apply.

A transaction the worker cannot apply at all (its project is unknown, say) is dead-lettered:
the reply queue is also bound to the dead-letter exchange (a fanout), so `submit_and_wait`
learns it at once, as `DeadLettered`, instead of waiting out its timeout; a message that does
not pass the schema is refused before it is published (`ValidationFailed`)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from shared.amqp import broker
from shared.amqp.publisher import Publisher
from shared.contract.messages import TransactionMessage
from shared.errors import BrokerUnavailable, DeadLettered, ValidationFailed
from shared.ids import new_id
from shared.settings import Settings

WAITING_MAX = 10_000


class TransactionClient:
    """Publishes transactions and collects their final states by correlation id."""

    def __init__(
        self,
        publisher: Publisher,
        connection: AbstractRobustConnection,
        replies: AbstractQueue,
    ) -> None:
        self._publisher = publisher
        self._connection = connection
        self._replies = replies
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    @classmethod
    async def open(cls, settings: Settings) -> TransactionClient:
        """Connect, and declare a private reply queue that lives as long as the client."""
        async with contextlib.AsyncExitStack() as opened:  # closed if a later step fails
            publisher = await Publisher.open(settings, name="cloudwallet-client")
            opened.push_async_callback(publisher.close)
            connection = await broker.connect(settings, name="cloudwallet-client-replies")
            opened.push_async_callback(connection.close)
            channel = await connection.channel()
            replies = await channel.declare_queue(exclusive=True, auto_delete=True)
            # Every dead letter of the deployment comes here too (few, by design: decision
            # 0013), each matched to an awaited transaction by its correlation id.
            dead = await channel.declare_exchange(
                broker.DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
            )
            await replies.bind(dead)
            client = cls(publisher, connection, replies)
            await replies.consume(client._on_reply, no_ack=True)
            opened.pop_all()  # the client closes them from now on
        return client

    async def close(self) -> None:
        for future in self._waiting.values():
            future.cancel()
        await self._connection.close()
        await self._publisher.close()

    async def publish(
        self, project_id: str, reference_id: str, operations: list[dict[str, Any]]
    ) -> str:
        """Publish a transaction and return its id once the broker has confirmed it."""
        message = transaction_message(project_id, reference_id, operations)
        await self._publisher.publish(message)
        return message.id

    async def submit_and_wait(
        self,
        project_id: str,
        reference_id: str,
        operations: list[dict[str, Any]],
        *,
        timeout_s: float = 30,
    ) -> dict[str, Any]:
        """Publish a transaction and return its final state as the API shows it; raise
        DeadLettered as soon as the worker dead-letters it instead."""
        if len(self._waiting) >= WAITING_MAX:
            raise BrokerUnavailable(f"more than {WAITING_MAX} transactions are awaited")
        message = transaction_message(project_id, reference_id, operations)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message.id] = future
        try:
            await self._publisher.publish(
                message, reply_to=self._replies.name, correlation_id=message.id
            )
            return await asyncio.wait_for(future, timeout=timeout_s)
        finally:
            self._waiting.pop(message.id, None)

    async def _on_reply(self, delivery: AbstractIncomingMessage) -> None:
        future = self._waiting.get(delivery.correlation_id or "")
        if future is None or future.done():
            return
        if delivery.exchange == broker.DEAD_LETTER_EXCHANGE:
            future.set_exception(dead_lettered(delivery))
        else:
            future.set_result(dict(orjson.loads(delivery.body)))


def dead_lettered(delivery: AbstractIncomingMessage) -> DeadLettered:
    """The error of an awaited transaction that came back through the dead-letter exchange."""
    deaths = (delivery.headers or {}).get("x-death")
    first = deaths[0] if isinstance(deaths, list) and deaths else None
    death = first if isinstance(first, dict) else {}
    reason, queue = str(death.get("reason", "rejected")), str(death.get("queue", "its queue"))
    transaction_id = delivery.correlation_id or ""
    return DeadLettered(
        f"transaction {transaction_id} was dead-lettered from {queue} ({reason}): the worker"
        " could not apply it (an unknown project, or a message it cannot store); its log says"
        " why",
        transaction_id=transaction_id,
        reason=reason,
    )


def transaction_message(
    project_id: str, reference_id: str, operations: list[dict[str, Any]]
) -> TransactionMessage:
    """A new transaction of `project_id` as it goes on the queue, validated, submitted now;
    ValidationFailed if the worker would dead-letter it for its shape."""
    try:
        return TransactionMessage.model_validate(
            {
                "id": new_id(),
                "projectId": project_id,
                "referenceId": reference_id,
                "operations": operations,
                "submittedAt": datetime.now(UTC).isoformat(),
            }
        )
    except ValidationError as error:
        raise ValidationFailed(f"the transaction is not valid: {error}") from None
