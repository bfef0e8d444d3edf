"""What the writer reads before planning a batch (`store.load_batch`), on the real PostgreSQL, in
one round trip: every touched wallet of the database, locked until the batch's transaction
ends, and the transactions that already hold the batch's reference IDs, as the API shows them;
a wallet id that names no wallet and a reference ID not taken are simply absent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.amqp.client import transaction_message
from shared.core import ledger as core
from shared.database import connect
from shared.ids import new_id
from shared.settings import Settings
from tests.support import Ledger, issue, transfer
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
