"""A writer's announcements: final states published to the events exchange, and replies to
the publishers that asked, through an outbox (docs/decisions/0008-events-outbox.md).

Each batch's transaction also records (in `event_outbox`) which final states it has to
announce, and the row is deleted once the broker has confirmed those events (by the next
batch's transaction, or when the writer is idle). A row whose publish failed, that a writer
left behind when it died, or that a batch committed while its connection broke (so that its
retry found it applied), is relayed: by this writer as soon as it can, and by the partition's
next writer before it consumes anything. Events are so published at least once; a replay (a
message whose transaction was applied before) is never announced again, since the batch that
applied it has its own outbox row."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aio_pika.abc import AbstractChannel
from pamqp import commands as spec

from shared.amqp.broker import EVENTS_EXCHANGE, broker_errors
from shared.errors import BrokerUnavailable
from shared.fastpath.confirms import Publish, publish_many
from shared.settings import Settings
from worker import delivery, store
from worker.batch import Outcome
from worker.failpoints import FailPoint
from worker.lease import TRANSIENT_DATABASE_ERRORS, Lease

log = logging.getLogger(__name__)
PERSISTENT = 2
EVENT_REQUEST_ID_HEADER = "request-id"


class Outbox:
    """One partition's announcements and outbox rows."""

    def __init__(
        self,
        partition: int,
        settings: Settings,
        lease: Lease,
        channel: AbstractChannel,
        failpoint: FailPoint,
    ) -> None:
        self.partition = partition
        self._settings = settings
        self._lease = lease
        self._channel = channel  # with publisher confirms
        self._failpoint = failpoint
        # Rows whose events the broker confirmed (deleted by the next batch or when idle), and
        # whether rows may be waiting to be relayed (at start: a previous writer's).
        self._announced: list[str] = []
        self._relay_due = True
        self._relay_at_s = 0.0

    def confirmed(self) -> list[str]:
        """The rows whose events the broker confirmed, for a batch's transaction to delete."""
        return list(self._announced)

    def forgotten(self, rows: list[str]) -> None:
        """The rows `confirmed` gave were deleted (rows confirmed since stay)."""
        del self._announced[: len(rows)]

    def expect_leftovers(self) -> None:
        """Rows may be waiting to be relayed: a batch's publish failed, or a batch attempt
        failed with its connection (it may have committed all the same)."""
        self._relay_due = True

    def relay_ready(self) -> bool:
        """Whether rows may be waiting and the pause after a failed relay is over."""
        return self._relay_due and asyncio.get_running_loop().time() >= self._relay_at_s

    def record(self, outbox_batch_id: str | None, announced: bool) -> None:
        """A committed batch's row, once its finish announced it: deleted later if the broker
        confirmed its events, relayed otherwise."""
        if outbox_batch_id is None:
            return
        if announced:
            self._announced.append(outbox_batch_id)
        else:
            self._relay_due = True

    async def announce(self, outcomes: list[Outcome], deliveries: list[delivery.Delivery]) -> bool:
        """Publish each newly applied final state to the events exchange, and every final state
        to the publisher's reply queue where it asked for one; True if the broker confirmed
        them all. Replies are best effort: a publisher that missed one reads the state."""
        outgoing: list[Publish] = []
        for outcome, received in zip(outcomes, deliveries, strict=True):
            body = orjson.dumps(outcome.body)
            if outcome.new:
                project_id = outcome.message.project_id
                outgoing.append(event(project_id, outcome.body, body))
                outgoing.extend(event(project_id, hold) for hold in outcome.holds)
            if received.reply_to:
                properties = spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=PERSISTENT,
                    correlation_id=received.correlation_id,
                    message_id=outcome.body["id"],
                )
                outgoing.append(("", received.reply_to, body, properties))
        with_request_ids(outgoing, outcomes, deliveries)
        return not self._failpoint.drop_events(self.partition) and await self._publish(outgoing)

    async def relay(self, stop: asyncio.Event) -> None:
        """Publish the events of the outbox rows that no finish of this writer is announcing,
        `outbox_relay_batches_max` rows at a time, oldest first; on any failure, try again
        after `outbox_relay_retry_ms`."""
        while not stop.is_set():
            try:
                async with self._lease.acquire() as connection:
                    leftovers = await store.outbox_leftovers(
                        connection,
                        self.partition,
                        self._announced,
                        self._settings.outbox_relay_batches_max,
                    )
            except TRANSIENT_DATABASE_ERRORS as error:
                log.warning("partition %s: outbox relay: %s", self.partition, type(error).__name__)
                leftovers = None
            if leftovers == {}:
                self._relay_due = False
                return
            events = [
                event(project_id, state)
                for rows in (leftovers or {}).values()
                for project_id, state in rows
            ]
            if leftovers is None or not await self._publish(events):
                loop = asyncio.get_running_loop()
                self._relay_at_s = loop.time() + self._settings.outbox_relay_retry_ms / 1000
                return
            log.info(
                "partition %s: outbox relay published %s events of %s batches",
                self.partition,
                len(events),
                len(leftovers),
            )
            self._announced.extend(leftovers)
            await self.forget()

    async def forget(self) -> None:
        """Delete the outbox rows whose events are confirmed, outside a batch (when idle,
        relaying or stopping); a failure leaves them to the next batch."""
        if not self._announced:
            return
        forgotten = list(self._announced)
        try:
            async with self._lease.acquire() as connection:
                await store.forget_outbox(connection, self.partition, forgotten)
        except TRANSIENT_DATABASE_ERRORS:
            return
        del self._announced[: len(forgotten)]

    async def _publish(self, outgoing: list[Publish]) -> bool:
        """Publish with publisher confirms, bounded by `publish_confirm_timeout_ms`; True if
        the broker confirmed every message. Nobody need be listening, hence no `mandatory`
        flag; a failure is logged."""
        if not outgoing:
            return True
        try:
            async with asyncio.timeout(self._settings.publish_confirm_timeout_ms / 1000):
                with broker_errors():
                    await publish_many(self._channel, outgoing)
        except (TimeoutError, BrokerUnavailable) as error:
            log.warning(
                "partition %s: publishing %s events and replies failed: %r",
                self.partition,
                len(outgoing),
                error.__cause__ if isinstance(error, BrokerUnavailable) else error,
            )
            return False
        return True


def event(project_id: str, state: dict[str, Any], body: bytes | None = None) -> Publish:
    """The message announcing a transaction's final state, or a hold's state, on the events
    exchange (`transaction.<status>.<projectId>`, `hold.<status>.<projectId>`, status in lower
    case); its AMQP message id, by which a consumer recognizes an event it has seen (at least
    once), is the transaction's id, or the hold's id and status (`<holdId>.<status>`)."""
    status = str(state["status"]).lower()
    if "walletId" in state:  # a hold
        key, message_id = f"hold.{status}.{project_id}", hold_event_id(state)
    else:
        key, message_id = f"transaction.{status}.{project_id}", state["id"]
    properties = spec.Basic.Properties(
        content_type="application/json", delivery_mode=PERSISTENT, message_id=message_id
    )
    return EVENTS_EXCHANGE, key, orjson.dumps(state) if body is None else body, properties


def hold_event_id(hold: dict[str, Any]) -> str:
    """The message id of a hold's event: the hold's id and status (`<holdId>.<status>`)."""
    return f"{hold['id']}.{str(hold['status']).lower()}"


def with_request_ids(
    outgoing: list[Publish], outcomes: list[Outcome], deliveries: list[delivery.Delivery]
) -> None:
    """Give each transaction's event, and the events of the holds it made or resolved, the
    request id the transaction was submitted with, if any, as their `request-id` header
    (docs/operations.md). An event relayed from the outbox after a writer was lost has none:
    the outbox keeps transaction ids only."""
    request_ids = {}
    for outcome, received in zip(outcomes, deliveries, strict=True):
        request_id = received.request_id_of(outcome.message.id)
        if request_id is not None and outcome.new:
            request_ids[outcome.message.id] = request_id
            for hold in outcome.holds:
                request_ids[hold_event_id(hold)] = request_id
    if not request_ids:
        return
    for exchange, _, _, properties in outgoing:
        request_id = request_ids.get(properties.message_id or "")
        if exchange == EVENTS_EXCHANGE and request_id is not None:
            properties.headers = {EVENT_REQUEST_ID_HEADER: request_id}
