"""What `cloudwallet status` shows an operator: the live workers, and for each partition its
owner (the holder of the partition's lock), queue depth, consumers, applied rate, and the
transactions whose events are not yet confirmed by the broker (the events outbox)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import aio_pika

from shared.contract.partition import PARTITION_LOCK_SPACE, partition_of, queue_name
from shared.database import Connection
from shared.settings import Settings

APPLIED_WINDOW_S = 60
OWNERS = """
SELECT DISTINCT l.objid::int AS partition, a.application_name, a.pid
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
LIVE_WORKERS = """
SELECT id, started_at, heartbeat_at FROM workers
WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY id
"""
APPLIED = """
SELECT project_id, count(*) AS applied FROM transactions
WHERE completed_at > now() - make_interval(secs => $1) GROUP BY project_id
"""
UNANNOUNCED = """
SELECT partition, sum(cardinality(transaction_ids))::bigint AS transactions FROM event_outbox
GROUP BY partition
"""


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    partition: int
    owner: str
    depth: int
    consumers: int
    applied_per_s: float
    unannounced: int


async def partition_statuses(
    settings: Settings, connection: Connection
) -> tuple[list[str], list[PartitionStatus]]:
    """The live workers, and one status line per partition."""
    workers = [
        f"{row['id']} (up since {row['started_at']:%H:%M:%S}, seen {row['heartbeat_at']:%H:%M:%S})"
        for row in await connection.fetch(LIVE_WORKERS, settings.worker_timeout_ms / 1000)
    ]
    owners = {
        row["partition"]: f"{row['application_name'].removeprefix('cloudwallet-writer:')}"
        f" (backend {row['pid']})"
        for row in await connection.fetch(OWNERS, PARTITION_LOCK_SPACE)
    }
    applied: Counter[int] = Counter()
    for row in await connection.fetch(APPLIED, APPLIED_WINDOW_S):
        applied[partition_of(row["project_id"], settings.partition_count)] += row["applied"]
    unannounced = {
        row["partition"]: row["transactions"] for row in await connection.fetch(UNANNOUNCED)
    }
    depths = await _queue_depths(settings)
    statuses = [
        PartitionStatus(
            partition,
            owners.get(partition, "-"),
            depths[partition][0],
            depths[partition][1],
            applied[partition] / APPLIED_WINDOW_S,
            unannounced.get(partition, 0),
        )
        for partition in range(settings.partition_count)
    ]
    return workers, statuses


async def _queue_depths(settings: Settings) -> dict[int, tuple[int, int]]:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        depths = {}
        for partition in range(settings.partition_count):
            queue = await channel.declare_queue(queue_name(partition), passive=True)
            result = queue.declaration_result
            depths[partition] = (int(result.message_count or 0), int(result.consumer_count or 0))
        return depths
    finally:
        await connection.close()


def as_document(workers: list[str], statuses: list[PartitionStatus]) -> dict[str, Any]:
    """The status as one JSON object (`cloudwallet status --json`): the live workers, and per
    partition its owner (null when none), queued messages, consumers, applied transactions per
    second over the last minute, and transactions whose events are due."""
    return {
        "workers": workers,
        "partitions": [
            {
                "partition": status.partition,
                "owner": None if status.owner == "-" else status.owner,
                "queued": status.depth,
                "consumers": status.consumers,
                "appliedPerSecond": round(status.applied_per_s, 3),
                "eventsDue": status.unannounced,
            }
            for status in statuses
        ],
    }


def render(workers: list[str], statuses: list[PartitionStatus]) -> str:
    lines = [f"live workers: {len(workers)}", *(f"  {worker}" for worker in workers), ""]
    lines.append(
        f"{'partition':>9}  {'queued':>8}  {'consumers':>9}  {'applied/s':>9}"
        f"  {'events due':>10}  owner"
    )
    lines.extend(
        f"{s.partition:>9}  {s.depth:>8}  {s.consumers:>9}  {s.applied_per_s:>9.1f}"
        f"  {s.unannounced:>10}  {s.owner}"
        for s in statuses
    )
    lines.append("")
    lines.append(
        "events due: transactions whose events the broker has not confirmed yet (the outbox);"
        " a figure that stays up means events are failing"
    )
    return "\n".join(lines)
