"""What the writer reads before planning a batch (`store.load_batch`), on the real PostgreSQL, in
one round trip: every touched wallet of the database, locked until the batch's transaction
ends, and the transactions that already hold the batch's reference IDs, as the API shows them;
a wallet id that names no wallet and a reference ID not taken are simply absent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.amqp.client import transaction_message
from shared.contract.messages import hold_id
from shared.core import ledger as core
from shared.database import connect
from shared.ids import new_id
from shared.settings import Settings
from tests.support import Ledger, capture, hold, issue, transfer
from worker.batch import plan_batch
from worker.store import load_batch


@pytest.fixture
async def sessions(migrated: Settings) -> AsyncIterator[tuple[asyncpg.Connection, ...]]:
    first = await connect(migrated, application_name="test", idle_session_timeout_ms=0)
    second = await connect(migrated, application_name="test", idle_session_timeout_ms=0)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_touched_wallets_are_locked_and_taken_reference_ids_found(
    ledger: Ledger, sessions: tuple[asyncpg.Connection, ...]
) -> None:
    first, second = sessions
    source, target = await ledger.system_wallet(), await ledger.system_wallet()
    applied = await ledger.api.run(ledger.project_id, [issue(source, 70)], reference_id="taken")
    project = ledger.project_id
    unknown_wallet = new_id()
    messages = [
        transaction_message(project, "taken", [issue(source, 70)]),
        transaction_message(project, "new", [transfer(source, target, 5)]),
        transaction_message(project, "other", [transfer(source, unknown_wallet, 5)]),
    ]
    async with first.transaction():
        known, wallets, holds, _ = await load_batch(first, messages)
        assert holds == {}
        assert set(wallets) == {source, target}
        assert wallets[source].project_id == project
        assert wallets[source].wallet == core.Wallet(
            source, ledger.asset_id, core.WalletStatus.OPEN, 70
        )
        assert wallets[target].wallet.balance == 0
        assert set(known) == {(project, "taken")}
        assert known[(project, "taken")].id == applied["id"]
        assert known[(project, "taken")].body == applied
        for wallet_id in (source, target):
            with pytest.raises(asyncpg.LockNotAvailableError):
                await second.execute(
                    "SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE NOWAIT", wallet_id
                )
    await second.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE NOWAIT", source)


async def test_holds_the_batch_makes_are_read_only_when_their_hold_is_a_replay(
    ledger: Ledger, sessions: tuple[asyncpg.Connection, ...]
) -> None:
    connection, _ = sessions
    project = ledger.project_id
    source, target = await ledger.system_wallet(), await ledger.system_wallet()
    await ledger.api.run(project, [issue(source, 70)])
    applied = await ledger.api.run(project, [hold(source, 30, target)], reference_id="held")
    stored = applied["operations"][0]["holdId"]
    # The Hold again (a redelivery of its message), then a Capture of its hold.
    replay = transaction_message(project, "held", [hold(source, 30, target)])
    replay = replay.model_copy(update={"id": applied["id"]})
    fresh = transaction_message(project, "fresh", [hold(source, 5)])
    made = hold_id(fresh.id, 0)
    fresh_only = [fresh, transaction_message(project, "c1", [capture(made)])]
    async with connection.transaction():
        known, wallets, holds, _ = await load_batch(connection, fresh_only)
        assert (known, holds) == ({}, {})  # the hold is the batch's own: nothing to read
        assert set(wallets) == {source}
    with_replay = [replay, transaction_message(project, "c2", [capture(stored)]), *fresh_only]
    async with connection.transaction():
        known, wallets, holds, _ = await load_batch(connection, with_replay)
        assert set(known) == {(project, "held")}
        assert set(holds) == {stored}  # stored before: read, though the batch names its Hold
        assert holds[stored].hold.amount == 30 and set(wallets) == {source, target}
    # Planned, the replay applies nothing and the Capture captures the stored hold.
    plan = plan_batch(with_replay, known, wallets, datetime.now(UTC), holds)
    assert [o.body["status"] for o in plan.outcomes] == ["Completed"] * 4
    assert plan.outcomes[0].new is False
    assert plan.holds[stored].hold.status is core.HoldStatus.CAPTURED
