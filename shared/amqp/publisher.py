"""The publisher client: how the gateway, and internal services with no HTTP access, put a
transaction on its project's partition queue. A publish returns only once the broker has
confirmed it; every broker error becomes BrokerUnavailable (`broker.broker_errors`).

Publishes go round-robin over a few long-lived confirming channels, so that many confirms are
in flight at once; each publish queues its frames on the channel without waiting for the
socket to drain, and waits only for the broker's confirm. Transactions are applied in the
order the broker received them: a client that waits for one 202 before the next submit keeps
its order, and the messages of a batch go in order on one channel. Single submissions of one
project made at the same time share a batch message (`publish_coalesced`). No message is larger
than `message_bytes_max` unless it holds a single transaction: a batch travels in as many
messages as that takes (`queue_messages`), since a writer holds thousands of deliveries at a
time and their size is what bounds its memory."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from pamqp import commands as spec

from shared.amqp import broker
from shared.coalescer import Coalescer
from shared.contract.headers import REQUEST_IDS_HEADER, TRACEPARENTS_HEADER, message_headers
from shared.contract.messages import (
    TRANSACTION_BATCH_TYPE,
    QueueMessage,
    TransactionMessage,
    queue_messages,
)
from shared.contract.partition import partition_of, routing_key
from shared.errors import BrokerUnavailable
from shared.fastpath.confirms import publish_many
from shared.settings import Settings

PERSISTENT = 2
RequestIds = list[str | None]
Traceparents = list[str | None]
# A `message_body` object, its request id and its traceparent (shared/contract/headers.py).
Coalesced = tuple[dict[str, Any], str | None, str | None]


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
        self._message_bytes_max = settings.message_bytes_max
        self._coalescers: dict[str, Coalescer[Coalesced, None]] = {}  # by project
        self._sweep_at = settings.publish_coalescers_max

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

    def connected(self) -> bool:
        """Whether the broker connection is up now (a robust connection reconnects by itself;
        its heartbeat notices a dead peer within `amqp_heartbeat_s` x 2)."""
        return not self._connection.is_closed and self._connection.connected.is_set()

    async def publish(
        self,
        message: TransactionMessage,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Publish `message` to its project's partition and wait for the broker's confirm
        (see `publish_body` for the bound and the errors)."""
        await self.publish_body(
            message.project_id,
            message.to_json(),
            message_id=message.id,
            reply_to=reply_to,
            correlation_id=correlation_id,
        )

    async def publish_batch(
        self,
        project_id: str,
        bodies: list[dict[str, Any]],
        *,
        request_ids: RequestIds | None = None,
        traceparents: Traceparents | None = None,
    ) -> None:
        """Publish transactions of one project, given as `message_body` objects, in order, in
        messages of at most `message_bytes_max` bytes (`queue_messages`) on one channel, and
        wait for the broker's confirms. On an error (BrokerUnavailable) the caller answers none
        of them accepted, though some may still be queued, as after any confirm that did not
        come: the worker's unique reference IDs keep a retry from applying them twice.
        `request_ids` and `traceparents`, one per body, travel in each message's headers
        (shared/contract/headers.py)."""
        messages = queue_messages(bodies, self._message_bytes_max)
        if request_ids is None and traceparents is None:
            await self.publish_messages(project_id, messages)
            return
        followed = {REQUEST_IDS_HEADER: request_ids, TRACEPARENTS_HEADER: traceparents}
        headers = message_headers(messages, bodies, followed)
        await self.publish_messages(project_id, messages, headers=headers)

    async def publish_messages(
        self,
        project_id: str,
        messages: list[QueueMessage],
        *,
        headers: list[dict[str, Any] | None] | None = None,
    ) -> None:
        """Publish encoded messages of one project to its partition, in order on one channel,
        and wait for the broker to confirm them all (see `_translated_errors` for the bound and
        the errors); `headers`, if given, one table per message."""
        key = routing_key(partition_of(project_id, self._settings.partition_count))
        publishes = [
            (
                broker.TRANSACTIONS_EXCHANGE,
                key,
                message.body,
                _properties(
                    message.message_id,
                    TRANSACTION_BATCH_TYPE if message.batch else None,
                    headers=None if headers is None else headers[index],
                ),
            )
            for index, message in enumerate(messages)
        ]
        async with self._translated_errors():
            await publish_many(self._next(), publishes, mandatory=True)

    async def publish_coalesced(
        self,
        project_id: str,
        body: dict[str, Any],
        request_id: str | None = None,
        traceparent: str | None = None,
    ) -> None:
        """Publish one transaction (a `message_body` object) and wait for the confirm, sharing
        the broker message with the other transactions of the project submitted meanwhile: in
        the same turn of the event loop, and while `coalesced_sends_in_flight_max` publishes of
        the project wait for their confirms (the project's `Coalescer`: a project's publishes
        never wait for another's). They travel as `publish_batch` sends them,
        `transactions_per_batch_max` at a time, in the order they were submitted, and each
        caller returns once they are confirmed, or raises its own copy of the error. One message
        and one confirm for many transactions, where the broker's per-message work is the
        largest cost of a submission; when idle, a transaction travels alone, one loop turn
        later."""
        coalescer = self._coalescers.get(project_id) or self._coalescer_of(project_id)
        await coalescer.submit((body, request_id, traceparent))

    def _coalescer_of(self, project_id: str) -> Coalescer[Coalesced, None]:
        """A new coalescer for the project. The coalescers stay between publishes; once there
        are `publish_coalescers_max` of them, the idle ones are dropped (the busy ones never
        are), and the next sweep waits until the table has doubled again."""
        if len(self._coalescers) >= self._sweep_at:
            self._coalescers = {
                key: coalescer for key, coalescer in self._coalescers.items() if not coalescer.idle
            }
            self._sweep_at = max(self._settings.publish_coalescers_max, 2 * len(self._coalescers))
        coalescer = self._coalescers[project_id] = Coalescer(
            functools.partial(self._publish_coalesced, project_id),
            items_max=self._settings.transactions_per_batch_max,
            sends_in_flight_max=self._settings.coalesced_sends_in_flight_max,
            copy_error=_copy_error,
        )
        return coalescer

    async def _publish_coalesced(self, project_id: str, items: list[Coalesced]) -> list[None]:
        bodies = [body for body, _, _ in items]
        request_ids = [request_id for _, request_id, _ in items]
        traceparents = [traceparent for _, _, traceparent in items]
        if not any(traceparents):
            if not any(request_ids):
                await self.publish_batch(project_id, bodies)
            else:
                await self.publish_batch(project_id, bodies, request_ids=request_ids)
        else:
            await self.publish_batch(
                project_id, bodies, request_ids=request_ids, traceparents=traceparents
            )
        return [None] * len(items)

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
        properties = _properties(message_id, message_type, reply_to, correlation_id)
        channel = self._next()
        async with self._translated_errors():
            underlay = await broker.underlying_channel(channel)
            await underlay.basic_publish(
                body,
                exchange=broker.TRANSACTIONS_EXCHANGE,
                routing_key=key,
                properties=properties,
                mandatory=True,
                # Waiting for the socket to drain would hold the channel's lock across a trip
                # through the writer task and serialize every publish on the channel; the
                # confirm is what we wait for.
                wait=False,
            )

    def _next(self) -> AbstractChannel:
        """The next confirming channel, round-robin."""
        channel = self._channels[self._next_channel]
        self._next_channel = (self._next_channel + 1) % len(self._channels)
        return channel

    @asynccontextmanager
    async def _translated_errors(self) -> AsyncIterator[None]:
        """Bound a publish by `publish_confirm_timeout_ms`, and turn every broker error into
        BrokerUnavailable (`broker.broker_errors`, where they are translated)."""
        retry_after_s = self._settings.retry_after_s
        try:
            async with asyncio.timeout(self._confirm_timeout_s):
                with broker.broker_errors(retry_after_s=retry_after_s):
                    yield
        except TimeoutError:
            raise BrokerUnavailable(
                "the broker did not confirm the transaction in time", retry_after_s=retry_after_s
            ) from None


def _copy_error(error: Exception) -> Exception:
    """Each caller raises its own BrokerUnavailable; any other error (a programmer's) is raised
    as it is by every caller, so that none is left waiting."""
    if isinstance(error, BrokerUnavailable):
        return BrokerUnavailable(error.message, retry_after_s=error.retry_after_s, code=error.code)
    return error


def _properties(
    message_id: str,
    message_type: str | None = None,
    reply_to: str | None = None,
    correlation_id: str | None = None,
    headers: dict[str, Any] | None = None,
) -> spec.Basic.Properties:
    """The properties of a transaction message: JSON, persistent, named by its (first)
    transaction's id, by which a return is matched to its publish."""
    return spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=PERSISTENT,
        message_id=message_id,
        message_type=message_type,
        reply_to=reply_to,
        correlation_id=correlation_id,
        headers=headers,
    )
