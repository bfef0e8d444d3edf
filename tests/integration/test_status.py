"""`cloudwallet status` against the running in-process worker: every partition has an owner
(the holder of its lock), the worker is listed as live, and applied transactions show in the
rate of their project's partition."""

from __future__ import annotations

import asyncpg

from shared.contract.partition import partition_of
from shared.ops.status_report import partition_statuses, render
from shared.settings import Settings
from tests.support import Ledger


async def test_status_shows_owners_and_rates(ledger: Ledger, migrated: Settings) -> None:
    wallet = await ledger.system_wallet()
    for _ in range(3):
        done = await ledger.api.run(
            ledger.project_id, [{"type": "Issue", "to": wallet, "amount": 1}]
        )
        assert done["status"] == "Completed"
    connection = await asyncpg.connect(migrated.database_url.get_secret_value())
    try:
        workers, statuses = await partition_statuses(migrated, connection)
    finally:
        await connection.close()
    assert workers
    assert [status.partition for status in statuses] == list(range(migrated.partition_count))
    assert all(status.owner != "-" and status.consumers >= 1 for status in statuses)
    mine = statuses[partition_of(ledger.project_id, migrated.partition_count)]
    assert mine.applied_per_s >= 3 / 60
    assert "partition" in render(workers, statuses)


async def test_status_counts_the_events_still_due(ledger: Ledger, migrated: Settings) -> None:
    """An outbox row (as a writer leaves one whose events the broker refused) shows as events
    due on its partition until it is gone."""
    wallet = await ledger.system_wallet()
    done = await ledger.api.run(ledger.project_id, [{"type": "Issue", "to": wallet, "amount": 1}])
    partition = partition_of(ledger.project_id, migrated.partition_count)
    connection = await asyncpg.connect(migrated.database_url.get_secret_value())
    try:
        await connection.execute(
            "INSERT INTO event_outbox (partition, batch_id, transaction_ids) VALUES ($1, $2, $3)",
            partition,
            f"test-{done['id']}",
            [done["id"]] * 3,
        )
        try:
            _, after = await partition_statuses(migrated, connection)
        finally:
            await connection.execute(
                "DELETE FROM event_outbox WHERE batch_id = $1", f"test-{done['id']}"
            )
    finally:
        await connection.close()
    assert after[partition].unannounced >= 3
    assert "events due" in render([], after)
