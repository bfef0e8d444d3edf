"""Projects spread over the partitions, and the partition leases seen from outside the worker
processes: who holds which share (`pg_locks`), and a gate that holds every lease while worker
processes start, so that each starts on its own share (`worker/lease.py`, `worker/ownership.py`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg

from shared.contract.partition import PARTITION_LOCK_SPACE, partition_of
from shared.ids import new_id
from shared.settings import Settings

PROJECT_DRAWS_MAX = 100_000  # project ids drawn, at most, to give every partition its projects
SETTLE_TIMEOUT_S = 60  # for the worker processes to be live and to hold their shares
SETTLE_POLL_S = 0.1

HELD_SHARES = """
SELECT a.application_name AS holder, count(DISTINCT l.objid) AS partitions
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objsubid = 2
  AND a.application_name LIKE 'cloudwallet-writer:%'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY a.application_name
"""


def projects_per_partition(
    partition_count: int,
    per_partition: int,
    draw: Callable[[], str] = new_id,
    draws_max: int = PROJECT_DRAWS_MAX,
) -> list[str]:
    """Project ids drawn until each of the `partition_count` partitions has exactly
    `per_partition` of them (`shared.contract.partition.partition_of`), ordered by partition."""
    chosen: dict[int, list[str]] = {partition: [] for partition in range(partition_count)}
    missing = partition_count * per_partition
    draws = 0
    while missing and draws < draws_max:
        project_id = draw()
        draws += 1
        bucket = chosen[partition_of(project_id, partition_count)]
        if len(bucket) < per_partition and project_id not in bucket:
            bucket.append(project_id)
            missing -= 1
    if missing:
        raise ValueError(f"{draws} project ids left {missing} places of the partitions empty")
    return [project_id for partition in range(partition_count) for project_id in chosen[partition]]


def shares_settled(held: dict[str, int], workers: int, partition_count: int) -> bool:
    """Whether `workers` holders hold every partition between them, fairly (shares differ by
    at most one, as `worker.ownership.assign` makes them)."""
    sizes = list(held.values())
    return (
        len(sizes) == workers
        and sum(sizes) == partition_count
        and max(sizes, default=0) - min(sizes, default=0) <= 1
    )


async def held_shares(connection: asyncpg.Connection) -> dict[str, int]:
    """The partitions whose lease each writer session holds now, by application name (one
    name per worker process)."""
    rows = await connection.fetch(HELD_SHARES, PARTITION_LOCK_SPACE)
    return {row["holder"]: int(row["partitions"]) for row in rows}


async def close_gate(settings: Settings) -> asyncpg.Connection:
    """Hold every partition's lease from the benchmark's own session, so that worker processes
    that start now wait (their writers retry every `lease_retry_ms`) instead of writing."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    for partition in range(settings.partition_count):
        await connection.execute("SELECT pg_advisory_lock($1, $2)", PARTITION_LOCK_SPACE, partition)
    return connection


async def wait_live(settings: Settings, workers: int) -> None:
    """Wait until `workers` processes heartbeat, then two heartbeats more, so that each has
    computed its share with all of them live (`worker/ownership.py`)."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            live = await connection.fetchval(
                "SELECT count(*) FROM workers"
                " WHERE heartbeat_at > now() - make_interval(secs => $1)",
                settings.worker_timeout_ms / 1000,
            )
            if live >= workers:
                await asyncio.sleep(2 * settings.worker_heartbeat_ms / 1000)
                return
            await asyncio.sleep(SETTLE_POLL_S)
    finally:
        await connection.close()
    raise RuntimeError(f"{workers} workers did not heartbeat in {SETTLE_TIMEOUT_S} s")


async def open_gate(connection: asyncpg.Connection) -> None:
    await connection.execute("SELECT pg_advisory_unlock_all()")
    await connection.close()


async def wait_settled(settings: Settings, workers: int) -> tuple[float, dict[str, int]]:
    """Wait until `workers` processes hold their shares of the partitions' leases; the wall
    time it was first seen and the shares."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            held = await held_shares(connection)
            if shares_settled(held, workers, settings.partition_count):
                return time.time(), held
            await asyncio.sleep(SETTLE_POLL_S)
    finally:
        await connection.close()
    raise RuntimeError(f"{workers} workers did not hold their shares in {SETTLE_TIMEOUT_S} s")
