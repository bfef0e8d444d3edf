"""How every fault scenario ends: wait until each accepted transaction is final, then check
the ledger with `verify`, accepted = completed + failed, zero duplicates, nothing
dead-lettered, each client's transactions applied in the order it submitted them, an event
for every transaction of the project; and record a summary that the test run prints at its
end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import aio_pika
import asyncpg

from shared.amqp.broker import DEAD_LETTER_QUEUE
from shared.ops.verify import verify
from shared.settings import Settings
from tests.faults.processes import Replays
from tests.faults.workload import Workload

SETTLE_TIMEOUT_S = 90
SUMMARIES: list[str] = []

UNFINISHED = """
SELECT k.id FROM unnest($1::text[]) AS k(id)
WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = k.id)
  AND NOT EXISTS (SELECT 1 FROM transaction_aliases a WHERE a.id = k.id)
"""
EXPIRING_HOLDS = """
SELECT count(*) FROM holds WHERE project_id = $1 AND status = 'Pending' AND expires_at IS NOT NULL
"""
FIRST_ENTRIES = """
SELECT r.id, min(e.id) AS first_entry
FROM (
    SELECT id, id AS transaction_id FROM transactions WHERE project_id = $1
    UNION ALL
    SELECT id, transaction_id FROM transaction_aliases WHERE project_id = $1
) r JOIN entries e ON e.transaction_id = r.transaction_id
GROUP BY r.id
"""


@dataclass
class Summary:
    scenario: str
    started_s: float
    recoveries_s: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def dead_lettered(settings: Settings) -> int:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD_LETTER_QUEUE, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def settle_and_check(
    settings: Settings, workload: Workload, summary: Summary, replays_of: Callable[[], Replays]
) -> None:
    database = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await _wait_all_final(database, workload)
        await _wait_holds_expired(database, workload)
        accepted = [(item.id, item.reference_id) for item in workload.accepted]
        async with database.transaction(isolation="repeatable_read", readonly=True):
            report = await verify(database, workload.project_id, accepted)
            stored = await database.fetchval(
                "SELECT count(*) FROM transactions WHERE project_id = $1"
                " AND reference_id NOT LIKE 'cloudwallet:%'",
                workload.project_id,
            )
            aliases = await database.fetchval(
                "SELECT count(*) FROM transaction_aliases WHERE project_id = $1",
                workload.project_id,
            )
            first_entries = {
                row["id"]: row["first_entry"]
                for row in await database.fetch(FIRST_ENTRIES, workload.project_id)
            }
            holds = {
                row["status"]: row["count"]
                for row in await database.fetch(
                    "SELECT status, count(*) FROM holds WHERE project_id = $1 GROUP BY status",
                    workload.project_id,
                )
            }
            final_statuses = {
                row["id"]: row["status"]
                for row in await database.fetch(
                    "SELECT id, status FROM transactions WHERE project_id = $1",
                    workload.project_id,
                )
            }
    finally:
        await database.close()
    assert report.ok, report.violations
    distinct_ids = {item.id for item in workload.accepted}
    assert report.completed + report.failed == len(distinct_ids) == report.checked_accepted
    # The load's references plus the funding transaction: exactly one transaction each.
    assert stored == len(workload.references_sent) + 1, (stored, len(workload.references_sent))
    _check_client_order(workload, first_entries)
    dead = await dead_lettered(settings)
    assert dead == 0, f"{dead} messages were dead-lettered"
    events = await workload.events.collect(final_statuses)
    unannounced = final_statuses.keys() - events.keys()
    assert not unannounced, f"{len(unannounced)} transactions never announced"
    replays = replays_of()  # read once every worker has logged its last batch
    elapsed_s = asyncio.get_running_loop().time() - summary.started_s
    counts = workload.counts
    recoveries = ", ".join(f"{value:.2f}" for value in summary.recoveries_s) or "-"
    line = (
        f"{summary.scenario}: requests={counts.requests} accepted={len(distinct_ids)}"
        f" (202={counts.accepted_202}, 409={counts.duplicate_409})"
        f" completed={report.completed} failed={report.failed}"
        f" 503={counts.unavailable_503} 429={counts.too_many_429}"
        f" conn_errors={counts.connection_errors}"
        f" aliases={aliases} redelivered={replays.redelivered}"
        f" already_applied={replays.already_applied}"
        f" delivery_count_max={replays.delivery_count_max} duplicates=0 dead_lettered={dead}"
        f" events={events.total()} (announced twice={sum(1 for n in events.values() if n > 1)})"
        f" holds={dict(sorted(holds.items()))}"
        f" recover_s=[{recoveries}] total_s={elapsed_s:.1f}"
    )
    if summary.notes:
        line += " | " + "; ".join(summary.notes)
    SUMMARIES.append(line)
    print(line)


async def _wait_all_final(database: asyncpg.Connection, workload: Workload) -> None:
    ids = list({item.id for item in workload.accepted})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_S
    while True:
        missing = [row["id"] for row in await database.fetch(UNFINISHED, ids)]
        if not missing:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{len(missing)} accepted transactions never finished")
        await asyncio.sleep(0.2)


async def _wait_holds_expired(database: asyncpg.Connection, workload: Workload) -> None:
    """Every hold that expires gets released by the service, whatever the faults were: none is
    left Pending for good (the bound of 10 s holds when nothing is down; here the partitions
    may have just recovered). The load's holds expire within seconds; once they all have,
    nothing more is applied, and the final states can be read."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_S
    while True:
        expiring = await database.fetchval(EXPIRING_HOLDS, workload.project_id)
        if not expiring:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{expiring} holds never expired")
        await asyncio.sleep(0.2)


def _check_client_order(workload: Workload, first_entries: dict[str, int]) -> None:
    """Invariant 7: a client that waits for each 202 before the next submit had the broker
    receive them in that order, so their postings must follow that order."""
    by_client: dict[str, list[tuple[int, int]]] = {}
    for item in workload.accepted:
        if item.resubmitted or item.id not in first_entries:
            continue
        by_client.setdefault(item.client, []).append((item.sequence, first_entries[item.id]))
    for client, applied in by_client.items():
        entries = [entry for _, entry in sorted(applied)]
        assert entries == sorted(entries), f"client {client}: applied out of submission order"
