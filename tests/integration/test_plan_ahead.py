"""A batch planned ahead, on the real PostgreSQL: the writer saves that plan only when the
wallets it locks, and the reference IDs taken, are exactly what the plan was made from;
otherwise it plans again from the locked rows. A stale balance, a wallet suspended since, or a
reference ID taken since must never reach the ledger through a plan made earlier."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from shared.amqp.client import transaction_message
from shared.core import ledger as core
from shared.database import connect
from shared.settings import Settings
from tests.support import Ledger, issue, transfer
from worker import store
from worker.batch import Guess, LockedWallet, WalletCache, guess
from worker.committer import Committer
from worker.failpoints import FailPoint

# A partition no worker of the suite owns, so that the test's writer takes its lock at once.
PARTITION = 1_000_003


class Lease:
    """The writer's connection, one real session."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        yield self._connection


@pytest.fixture
async def session(migrated: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(migrated, application_name="test", idle_session_timeout_ms=0)
    try:
        yield connection
    finally:
        await connection.execute("DELETE FROM event_outbox WHERE partition = $1", PARTITION)
        await connection.close()


@pytest.fixture
async def wallets(ledger: Ledger) -> tuple[str, str]:
    """A source wallet holding 70 and an empty target wallet."""
    source, target = await ledger.system_wallet(), await ledger.system_wallet()
    await ledger.api.run(ledger.project_id, [issue(source, 70)])
    return source, target


def transfer_ahead(
    ledger: Ledger, reference_id: str, wallets: tuple[str, str], amount: int, believed: list[int]
) -> tuple[list[Any], Guess]:
    """One transfer from source to target, and its plan made ahead by a writer that believes
    the two wallets Open at the `believed` balances."""
    source, target = wallets
    messages = [transaction_message(ledger.project_id, reference_id, [transfer(*wallets, amount)])]
    cache = WalletCache(100)
    cache.remember(
        {
            wallet_id: LockedWallet(
                ledger.project_id,
                core.Wallet(wallet_id, ledger.asset_id, core.WalletStatus.OPEN, balance),
            )
            for wallet_id, balance in zip((source, target), believed, strict=True)
        },
        {},
    )
    ahead = guess(messages, cache, messages[0].submitted_at)
    assert ahead is not None
    return messages, ahead


async def apply(
    migrated: Settings, session: asyncpg.Connection, messages: list[Any], ahead: Guess
) -> tuple[Committer, list[dict[str, Any]]]:
    committer = Committer(
        PARTITION,
        migrated,
        Lease(session),
        None,  # type: ignore[arg-type]  # no outbox: _apply uses it only after a database error
        FailPoint.from_environment(),
    )
    applied = await committer._apply(messages, [], asyncio.Event(), ahead)
    assert applied is not None
    plan, _ = applied
    return committer, [outcome.body for outcome in plan.outcomes]


async def test_a_plan_made_ahead_from_the_locked_rows_is_saved_as_it_is(
    migrated: Settings, ledger: Ledger, session: asyncpg.Connection, wallets: tuple[str, str]
) -> None:
    messages, ahead = transfer_ahead(ledger, "ahead", wallets, 30, [70, 0])
    committer, bodies = await apply(migrated, session, messages, ahead)
    assert committer.plans_guessed == 1
    assert bodies == [outcome.body for outcome in ahead.plan.outcomes]
    assert bodies[0]["status"] == "Completed"
    assert [await ledger.api.balance(ledger.project_id, w) for w in wallets] == [40, 30]


async def test_a_stale_balance_is_planned_again_from_the_locked_rows(
    migrated: Settings, ledger: Ledger, session: asyncpg.Connection, wallets: tuple[str, str]
) -> None:
    messages, ahead = transfer_ahead(ledger, "stale", wallets, 500, [1000, 0])
    assert ahead.plan.outcomes[0].body["status"] == "Completed"  # what the stale cache says
    committer, bodies = await apply(migrated, session, messages, ahead)
    assert committer.plans_guessed == 0
    assert bodies[0]["status"] == "Failed"
    assert bodies[0]["failure"]["code"] == "InsufficientFunds"
    assert [await ledger.api.balance(ledger.project_id, w) for w in wallets] == [70, 0]


async def test_a_wallet_suspended_since_is_seen_by_the_plan_saved(
    migrated: Settings, ledger: Ledger, session: asyncpg.Connection, wallets: tuple[str, str]
) -> None:
    messages, ahead = transfer_ahead(ledger, "frozen", wallets, 5, [70, 0])
    path = f"/projects/{ledger.project_id}/wallets/{wallets[0]}/status"
    assert (await ledger.api.put(path, {"status": "Suspended"})).status == 200
    committer, bodies = await apply(migrated, session, messages, ahead)
    assert committer.plans_guessed == 0
    assert bodies[0]["status"] == "Failed"
    assert bodies[0]["failure"]["code"] == "WalletNotOpen"
    assert [await ledger.api.balance(ledger.project_id, w) for w in wallets] == [70, 0]


async def test_a_reference_id_taken_since_is_a_replay_not_a_second_apply(
    migrated: Settings, ledger: Ledger, session: asyncpg.Connection, wallets: tuple[str, str]
) -> None:
    first = await ledger.api.run(ledger.project_id, [transfer(*wallets, 10)], reference_id="once")
    messages, ahead = transfer_ahead(ledger, "once", wallets, 10, [60, 10])
    committer, bodies = await apply(migrated, session, messages, ahead)
    assert committer.plans_guessed == 0
    assert bodies == [first]
    assert [await ledger.api.balance(ledger.project_id, w) for w in wallets] == [60, 10]
    assert await store.outbox_leftovers(session, PARTITION, [], 10) == {}
