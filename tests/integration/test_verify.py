"""`verify` and `cloudwallet verify` catch a corrupted ledger: a clean project passes, and each
kind of corruption, made in the test's own project's rows (inside a transaction rolled back
afterwards, or undone at once for the command line), is reported by name."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
import pytest

from shared.ids import new_id
from shared.ops.verify import verify
from shared.settings import Settings
from tests.support import Ledger, settings_environment


@dataclass
class Books:
    """A small ledger with one transaction of each kind, and its client log."""

    ledger: Ledger
    treasury: str
    alice: str
    bob: str
    issue_id: str
    transfer_id: str
    accepted: list[tuple[str, str]]


@pytest.fixture
async def books(ledger: Ledger) -> Books:
    api, project = ledger.api, ledger.project_id
    treasury, alice, bob = (
        await ledger.system_wallet(),
        await ledger.customer_wallet(),
        await ledger.customer_wallet(),
    )
    steps = [
        [{"type": "Issue", "to": treasury, "amount": "1000"}],
        [{"type": "Transfer", "from": treasury, "to": alice, "amount": "300"}],
        [{"type": "Transfer", "from": alice, "to": bob, "amount": "100"}],
        [{"type": "Redeem", "from": bob, "amount": "50"}],
        [{"type": "Transfer", "from": bob, "to": alice, "amount": "999"}],  # InsufficientFunds
    ]
    finals = [await api.run(project, operations) for operations in steps]
    assert [final["status"] for final in finals] == ["Completed"] * 4 + ["Failed"]
    accepted = [(final["id"], final["referenceId"]) for final in finals]
    return Books(ledger, treasury, alice, bob, finals[0]["id"], finals[1]["id"], accepted)


@pytest.fixture
async def database(migrated: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(migrated.database_url.get_secret_value())
    try:
        yield connection
    finally:
        await connection.close()


async def test_a_clean_ledger_passes_and_its_finals_are_counted(
    books: Books, database: asyncpg.Connection
) -> None:
    report = await verify(database, books.ledger.project_id, books.accepted)
    assert report.violations == []
    assert (report.checked_accepted, report.completed, report.failed) == (5, 4, 1)


Corruption = Callable[[asyncpg.Connection, Books], Awaitable[None]]


async def change_a_balance(database: asyncpg.Connection, books: Books) -> None:
    await database.execute("UPDATE wallets SET balance = balance + 5 WHERE id = $1", books.alice)


async def apply_an_issue_twice(database: asyncpg.Connection, books: Books) -> None:
    """A second, consistent copy of the Issue's posting: balances, chains and conservation
    all still add up; only the postings check can tell."""
    balance = await database.fetchval("SELECT balance FROM wallets WHERE id = $1", books.treasury)
    await database.execute(
        "INSERT INTO entries (wallet_id, transaction_id, operation_index, type, amount,"
        " balance_after, created_at) VALUES ($1, $2, 0, 'Issue', 1000, $3, now())",
        books.treasury,
        books.issue_id,
        balance + 1000,
    )
    await database.execute(
        "UPDATE wallets SET balance = balance + 1000 WHERE id = $1", books.treasury
    )


async def make_a_balance_negative(database: asyncpg.Connection, books: Books) -> None:
    await database.execute("ALTER TABLE wallets DROP CONSTRAINT wallets_balance_check")
    await database.execute("ALTER TABLE wallets DROP CONSTRAINT wallets_held_check")
    await database.execute("UPDATE wallets SET balance = -1 WHERE id = $1", books.bob)


async def unbalance_a_transfer(database: asyncpg.Connection, books: Books) -> None:
    await database.execute(
        "UPDATE entries SET amount = amount + 1 WHERE transaction_id = $1 AND type = 'Credit'",
        books.transfer_id,
    )


async def apply_a_reference_twice(database: asyncpg.Connection, books: Books) -> None:
    await database.execute(
        "ALTER TABLE transactions DROP CONSTRAINT transactions_project_id_reference_id_key"
    )
    await database.execute(
        "INSERT INTO transactions SELECT $2, project_id, reference_id, request_digest, 'Failed',"
        " operations, '{}'::jsonb, created_at, completed_at FROM transactions WHERE id = $1",
        books.issue_id,
        new_id(),
    )


async def shadow_a_transaction_with_an_alias(database: asyncpg.Connection, books: Books) -> None:
    await database.execute(
        "INSERT INTO transaction_aliases (id, project_id, transaction_id) VALUES ($1, $2, $3)",
        books.issue_id,
        books.ledger.project_id,
        books.transfer_id,
    )


async def post_to_a_missing_wallet(database: asyncpg.Connection, books: Books) -> None:
    await database.execute(
        "UPDATE entries SET wallet_id = 'no-such-wallet' WHERE transaction_id = $1"
        " AND type = 'Credit'",
        books.transfer_id,
    )


async def post_for_a_missing_transaction(database: asyncpg.Connection, books: Books) -> None:
    await database.execute(
        "UPDATE entries SET transaction_id = 'no-such-transaction' WHERE transaction_id = $1",
        books.issue_id,
    )


async def move_a_transaction_to_another_project(database: asyncpg.Connection, books: Books) -> None:
    """Its entries stay on the wallets of the first project."""
    other = new_id()
    await database.execute(
        "INSERT INTO projects (id, tenant_id, name)"
        " SELECT $2, tenant_id, 'other' FROM projects WHERE id = $1",
        books.ledger.project_id,
        other,
    )
    await database.execute(
        "UPDATE transactions SET project_id = $2 WHERE id = $1", books.transfer_id, other
    )


async def hold_more_than_the_holds(database: asyncpg.Connection, books: Books) -> None:
    await database.execute("UPDATE wallets SET held = 5 WHERE id = $1", books.treasury)


async def forget_an_issue_in_the_totals(database: asyncpg.Connection, books: Books) -> None:
    await database.execute(
        "UPDATE asset_totals SET issued = issued - 1 WHERE asset_id = $1", books.ledger.asset_id
    )


async def name_a_reversal_that_is_none(database: asyncpg.Connection, books: Books) -> None:
    await database.execute(
        "UPDATE transactions SET reversed_by = $2 WHERE id = $1", books.issue_id, books.transfer_id
    )


async def resolve_a_hold_twice(database: asyncpg.Connection, books: Books) -> None:
    """A Void of a hold recorded after its Capture: the hold shows one resolution, the
    operations two."""
    await database.execute(
        'UPDATE transactions SET operations = operations || \'[{"type": "Void",'
        ' "holdId": "h-0"}]\'::jsonb WHERE id = $1',
        books.issue_id,
    )
    await database.execute(
        "INSERT INTO holds (id, project_id, partition, wallet_id, amount, status,"
        " transaction_id, created_at) VALUES ('h-0', $1, 0, $2, 1, 'Pending', $3, now())",
        books.ledger.project_id,
        books.treasury,
        books.transfer_id,
    )


@pytest.mark.parametrize(
    ("corrupt", "named"),
    [
        (hold_more_than_the_holds, ["held balance: wallet", "entry chain broken"]),
        (forget_an_issue_in_the_totals, ["asset totals: asset"]),
        (name_a_reversal_that_is_none, ["reversal links: transaction"]),
        (resolve_a_hold_twice, ["hold h-0 was made by 0 Hold operations", "resolved 1 times"]),
        (change_a_balance, ["conservation: asset", "entry chain broken: wallet"]),
        (apply_an_issue_twice, ["extra posting: transaction"]),
        (make_a_balance_negative, ["negative balance: wallet"]),
        (unbalance_a_transfer, ["unbalanced Completed transaction", "missing posting"]),
        (apply_a_reference_twice, ["reference ID applied 2 times"]),
        (shadow_a_transaction_with_an_alias, ["shadows a transaction id", "2 final statuses"]),
        (post_to_a_missing_wallet, ["names no wallet: wallet no-such-wallet"]),
        (post_for_a_missing_transaction, ["names no transaction", "missing posting"]),
        (move_a_transaction_to_another_project, ["crosses projects"]),
    ],
)
async def test_each_corruption_is_named(
    books: Books, database: asyncpg.Connection, corrupt: Corruption, named: list[str]
) -> None:
    transaction = database.transaction()
    await transaction.start()
    try:
        await corrupt(database, books)
        report = await verify(database, books.ledger.project_id, books.accepted)
    finally:
        await transaction.rollback()
    for name in named:
        assert any(name in violation for violation in report.violations), report.violations
    clean = await verify(database, books.ledger.project_id, books.accepted)
    assert clean.violations == []


async def test_the_client_log_is_checked(books: Books, database: asyncpg.Connection) -> None:
    lost = (new_id(), "never-applied")
    misfiled = (books.issue_id, "another-reference")
    report = await verify(database, books.ledger.project_id, [*books.accepted, lost, misfiled])
    assert f"accepted transaction {lost[0]} has no final status" in report.violations
    assert (
        f"accepted transaction {books.issue_id} was logged with two reference IDs"
        in report.violations
    )
    wrong = await verify(database, books.ledger.project_id, [misfiled])
    assert wrong.violations == [
        f"accepted transaction {books.issue_id} resolved to another reference ID"
    ]


def run_cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    executable = str(Path(sys.executable).with_name("cloudwallet"))
    return subprocess.run(
        [executable, "verify", *arguments],
        env=settings_environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_command_exits_non_zero_naming_each_violation(
    books: Books, database: asyncpg.Connection, migrated: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "accepted.jsonl"
    log.write_bytes(
        b"\n".join(orjson.dumps({"id": i, "referenceId": r}) for i, r in books.accepted) + b"\n"
    )
    project = books.ledger.project_id
    arguments = ("--project", project, "--accepted", str(log))
    clean = await asyncio.to_thread(run_cli, migrated, *arguments)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "accepted: 5 checked, 4 completed, 1 failed" in clean.stdout
    assert f"verify: ok (project {project})" in clean.stdout

    await change_a_balance(database, books)
    try:
        corrupted = await asyncio.to_thread(run_cli, migrated, *arguments)
    finally:
        await database.execute(
            "UPDATE wallets SET balance = balance - 5 WHERE id = $1", books.alice
        )
    assert corrupted.returncode == 1
    assert "violation: conservation: asset" in corrupted.stdout
    assert f"violation: entry chain broken: wallet {books.alice}" in corrupted.stdout
    assert f"violations in project {project}" in corrupted.stdout

    log.write_text("not json\n")
    unusable = await asyncio.to_thread(run_cli, migrated, *arguments)
    assert unusable.returncode == 2
    assert "cannot read the accepted log" in unusable.stderr
