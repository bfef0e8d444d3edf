"""Which worker process writes which partition.

Each worker heartbeats a row in `workers` (PostgreSQL's clock decides who is live, so process
clocks never matter). Every live worker computes the same assignment from the same sorted list
of live workers: partition p goes to the (p mod n)-th worker, so each holds a fair share and a
join or a leave moves partitions within one heartbeat. The assignment is only advice: what
makes a writer the writer is the session advisory lock it holds on the connection it writes
with (`worker/store.py` `hold_partition`); a partition whose previous owner has not let go yet
simply waits for the lock."""

from __future__ import annotations

from collections.abc import Sequence

from shared.database import Connection


def assign(partition_count: int, worker_ids: Sequence[str]) -> dict[str, frozenset[int]]:
    """A fair, deterministic share of the partitions for each live worker."""
    ordered = sorted(set(worker_ids))
    if not ordered:
        return {}
    shares: dict[str, set[int]] = {worker_id: set() for worker_id in ordered}
    for partition in range(partition_count):
        shares[ordered[partition % len(ordered)]].add(partition)
    return {worker_id: frozenset(share) for worker_id, share in shares.items()}


HEARTBEAT = """
INSERT INTO workers (id, heartbeat_at) VALUES ($1, now())
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
"""
LIVE = """
SELECT id FROM workers WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY id
"""
FORGET_EXPIRED = """
DELETE FROM workers WHERE heartbeat_at < now() - make_interval(secs => $1 * 10)
"""


async def heartbeat(connection: Connection, worker_id: str, worker_timeout_ms: int) -> list[str]:
    """Record that `worker_id` is alive; return the ids of every live worker."""
    await connection.execute(HEARTBEAT, worker_id)
    await connection.execute(FORGET_EXPIRED, worker_timeout_ms / 1000)
    rows = await connection.fetch(LIVE, worker_timeout_ms / 1000)
    return [row["id"] for row in rows]


async def leave(connection: Connection, worker_id: str) -> None:
    """Tell the others at once that this worker is gone (a graceful stop)."""
    await connection.execute("DELETE FROM workers WHERE id = $1", worker_id)
