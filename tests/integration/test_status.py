"""`cloudwallet status` against the running in-process worker: every partition has an owner
(the holder of its lock), the worker is listed as live, and applied transactions show in the
rate of their project's partition."""

from __future__ import annotations

import asyncpg

from shared.partition import partition_of
from shared.settings import Settings
from shared.status_report import partition_statuses, render
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
