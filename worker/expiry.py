"""The expiry of holds (docs/decisions/0017-holds-storage-and-expiry.md): the partition's writer
finds its Pending holds whose instant has come and publishes their Expire to its own partition
queue, so that the writer applies it in queue order like any transaction and stays the only
writer of balances and holds.

Every `hold_expiry_scan_interval_ms` it reads at most `hold_expiry_scan_holds_max` of them,
soonest first, by this process's clock (the one the writer's batch instant comes from), and
publishes each as a transaction of one Expire under the hold's expiry reference ID, with
publisher confirms. A hold whose expiry was published is published again only after
`hold_expiry_republish_ms` if it is still Pending by then (its message lost, or applied when
this writer's clock said it was early, which records nothing): a repeat is a replay of the same
reference ID, never a second release. A new owner of the partition, after a crash or a
rebalance, finds what is still Pending on its first scan: no hold stays Pending past its instant
for longer than a scan, a publish and the queue ahead of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import orjson
from aio_pika.abc import AbstractChannel
from pamqp import commands as spec

from shared.amqp.broker import TRANSACTIONS_EXCHANGE, broker_errors
from shared.contract.messages import expiry_reference, message_body
from shared.contract.partition import routing_key
from shared.errors import BrokerUnavailable
from shared.fastpath.confirms import Publish, publish_many
from shared.ids import new_id
from shared.settings import Settings
from worker.lease import TRANSIENT_DATABASE_ERRORS, Lease

log = logging.getLogger(__name__)
PERSISTENT = 2

DUE_HOLDS = """
SELECT id, project_id FROM holds
WHERE partition = $1 AND status = 'Pending' AND expires_at IS NOT NULL AND expires_at <= $2
ORDER BY expires_at LIMIT $3
"""


class ExpiryScanner:
    """Publishes the expiry of one partition's due holds."""

    def __init__(
        self, partition: int, settings: Settings, lease: Lease, channel: AbstractChannel
    ) -> None:
        self.partition = partition
        self._settings = settings
        self._lease = lease
        self._channel = channel  # with publisher confirms
        self._published_s: dict[str, float] = {}  # hold id -> when its expiry was last published
        self.expiries_published = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Scan until `stop` is set; a scan that fails is logged and tried at the next."""
        interval_s = self._settings.hold_expiry_scan_interval_ms / 1000
        while not stop.is_set():
            try:
                await self.scan()
            except (*TRANSIENT_DATABASE_ERRORS, BrokerUnavailable, TimeoutError) as error:
                log.warning(
                    "partition %s: hold expiry scan failed: %s",
                    self.partition,
                    type(error).__name__,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def scan(self) -> int:
        """Publish the expiry of the due holds not published lately; how many it published."""
        now = datetime.now(UTC)
        async with self._lease.acquire() as connection:
            rows = await connection.fetch(
                DUE_HOLDS, self.partition, now, self._settings.hold_expiry_scan_holds_max
            )
        loop_s = asyncio.get_running_loop().time()
        republish_s = self._settings.hold_expiry_republish_ms / 1000
        # What is no longer due was resolved: forget it (this bounds the dict by the scan's max).
        never = -republish_s
        published = {row["id"]: self._published_s.get(row["id"], never) for row in rows}
        due = [
            (row["id"], row["project_id"])
            for row in rows
            if loop_s - published[row["id"]] >= republish_s
        ]
        self._published_s = published
        if not due:
            return 0
        await self._publish([self._expiry(hold_id, project_id, now) for hold_id, project_id in due])
        for hold_id, _ in due:
            self._published_s[hold_id] = loop_s
        self.expiries_published += len(due)
        log.info("partition %s: published the expiry of %s holds", self.partition, len(due))
        return len(due)

    def _expiry(self, hold_id: str, project_id: str, now: datetime) -> Publish:
        transaction_id = new_id()
        body = message_body(
            transaction_id=transaction_id,
            project_id=project_id,
            reference_id=expiry_reference(hold_id),
            operations=[{"type": "Expire", "holdId": hold_id}],
            submitted_at=now,
        )
        properties = spec.Basic.Properties(
            content_type="application/json", delivery_mode=PERSISTENT, message_id=transaction_id
        )
        return TRANSACTIONS_EXCHANGE, routing_key(self.partition), orjson.dumps(body), properties

    async def _publish(self, outgoing: list[Publish]) -> None:
        """Publish with publisher confirms, bounded by `publish_confirm_timeout_ms`."""
        async with asyncio.timeout(self._settings.publish_confirm_timeout_ms / 1000):
            with broker_errors():
                await publish_many(self._channel, outgoing)
