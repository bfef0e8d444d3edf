"""What the benchmark reads back from the database after a scenario: batch sizes, completions
and end-to-end times, and the wait until every accepted transaction is applied."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.settings import Settings

BACKLOG_TIMEOUT_S = 600


async def batch_sizes(settings: Settings, project_ids: Sequence[str], prefix: str) -> list[int]:
    """Transactions committed together share their completion time: one group per batch."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        rows = await connection.fetch(
            "SELECT count(*) AS size FROM transactions WHERE project_id = ANY($1)"
            " AND reference_id LIKE $2 GROUP BY completed_at",
            list(project_ids),
            prefix + "-%",
        )
    finally:
        await connection.close()
    return [int(row["size"]) for row in rows]


async def wait_applied(settings: Settings, project_id: str, prefix: str, count: int) -> float:
    """Wait until `count` transactions of the scenario are applied; the seconds it took."""
    started = time.monotonic()
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        while time.monotonic() - started < BACKLOG_TIMEOUT_S:
            applied = await connection.fetchval(
                "SELECT count(*) FROM transactions WHERE project_id = $1 AND reference_id LIKE $2",
                project_id,
                prefix + "-%",
            )
            if applied >= count:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    raise RuntimeError(f"{count - applied} accepted transactions were not applied in time")


async def applied_figures(
    settings: Settings, project_id: str, prefix: str, window: tuple[float, float]
) -> dict[str, Any]:
    """Completions and end-to-end times of a scenario from the database: a transaction's
    `created_at` is when the gateway accepted it, its `completed_at` when the worker applied
    it (its batch's commit followed within milliseconds)."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        row = await connection.fetchrow(
            """
            SELECT count(*) AS applied,
                   count(*) FILTER (WHERE completed_at <= to_timestamp($3)) AS in_window,
                   count(*) FILTER (WHERE status = 'Failed') AS failed,
                   percentile_cont(ARRAY[0.5, 0.99, 0.999]) WITHIN GROUP
                     (ORDER BY extract(epoch FROM completed_at - created_at)::float8) AS e2e,
                   max(extract(epoch FROM completed_at - created_at))::float8 AS e2e_max
            FROM transactions WHERE project_id = $1 AND reference_id LIKE $2
            """,
            project_id,
            prefix + "-%",
            window[1],
        )
    finally:
        await connection.close()
    if row is None or not row["applied"]:
        return {"completed": 0, "completed_in_window": 0, "failed": 0, "end_to_end_ms": {}}
    p50, p99, p999 = (1000 * value for value in row["e2e"])
    return {
        "completed": row["applied"],
        "completed_in_window": row["in_window"],
        "failed": row["failed"],
        "end_to_end_ms": {
            "p50": p50,
            "p99": p99,
            "p99.9": p999,
            "p100": 1000 * float(row["e2e_max"]),
        },
        "end_to_end_source": "database (created_at to completed_at)",
    }
