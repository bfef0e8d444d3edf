"""The events a project announced: a durable queue bound to the project's events before its
first transaction and read at the end, so that an event published while the test was cut off
from the broker (a fault scenario) still counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage

from shared.amqp.broker import EVENTS_EXCHANGE
from shared.settings import Settings

EVENTS_WAIT_S = 30  # for the last events to arrive (a relay retries every second)
EVENTS_PREFETCH = 1000
STRAGGLERS_WAIT_S = 0.3  # for duplicates behind the last expected event


@dataclass(frozen=True)
class EventLog:
    settings: Settings
    project_id: str

    @property
    def queue_name(self) -> str:
        return f"test-events.{self.project_id}"

    async def bind(self) -> None:
        """Start keeping the project's events (before its first transaction)."""
        connection = await aio_pika.connect(self.settings.amqp_url.get_secret_value())
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue_name, durable=True)
            await queue.bind(EVENTS_EXCHANGE, routing_key=f"transaction.*.{self.project_id}")
        finally:
            await connection.close()

    async def collect(self, expected: dict[str, str]) -> Counter[str]:
        """Read the events until each transaction of `expected` (id -> final status) has had
        one, or `EVENTS_WAIT_S` passed; then delete the queue. Counts the events of each id;
        an event for another transaction, or with another status, fails the test."""
        seen: Counter[str] = Counter()
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        connection = await aio_pika.connect(self.settings.amqp_url.get_secret_value())
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=EVENTS_PREFETCH)
            queue = await channel.declare_queue(self.queue_name, durable=True)
            await queue.consume(inbox.put, no_ack=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + EVENTS_WAIT_S
            while loop.time() < deadline:
                complete = expected.keys() <= seen.keys()
                wait_s = STRAGGLERS_WAIT_S if complete else deadline - loop.time()
                try:
                    message = await asyncio.wait_for(inbox.get(), timeout=wait_s)
                except TimeoutError:
                    break
                state = orjson.loads(message.body)
                assert expected.get(state["id"]) == state["status"], state
                assert message.message_id == state["id"], message.message_id
                status = state["status"].lower()
                assert message.routing_key == f"transaction.{status}.{self.project_id}"
                seen[state["id"]] += 1
            await queue.delete(if_unused=False, if_empty=False)
        finally:
            await connection.close()
        return seen


MESSAGE_WAIT_S = 10  # for one message to arrive on a watched queue


class WatchedQueue:
    """Copies of what an exchange routes with some keys, on an exclusive queue bound before the
    test publishes (the messages of a partition, a project's events)."""

    def __init__(
        self, connection: aio_pika.abc.AbstractConnection, queue: aio_pika.abc.AbstractQueue
    ) -> None:
        self._connection = connection
        self._queue = queue

    @classmethod
    async def bind(cls, settings: Settings, exchange: str, *keys: str) -> WatchedQueue:
        connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
        queue = await (await connection.channel()).declare_queue(exclusive=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        return cls(connection, queue)

    async def headers(self, message_id: str) -> dict[str, Any]:
        """The headers of the message of this id once it arrives (within MESSAGE_WAIT_S); the
        messages before it are dropped."""
        async with asyncio.timeout(MESSAGE_WAIT_S):
            while True:
                message = await self._queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                await message.ack()
                if message.message_id == message_id:
                    return dict(message.headers)

    async def close(self) -> None:
        await self._connection.close()
