"""Wallets through HTTP: rename, description, and status changes by the transition table,
serialized with the worker: a close waits for a batch holding the wallet's lock and then
sees its balance, and under concurrent transactions a wallet never ends Closed with money."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg

from shared.settings import Settings
from tests.support import Ledger, assert_ledger_consistent, fetch_rows, issue, redeem, transfer

STATUSES = ("Open", "Suspended", "Closed")
ALLOWED = {
    ("Open", "Suspended"),
    ("Open", "Closed"),
    ("Suspended", "Open"),
    ("Suspended", "Closed"),
}


async def test_rename_and_describe(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/wallets"
    wallet = await ledger.customer_wallet()
    before = (await api.get(f"{base}/{wallet}")).body
    renamed = await api.put(f"{base}/{wallet}/name", {"name": "savings"})
    assert (renamed.status, renamed.body["name"]) == (200, "savings")
    described = await api.put(f"{base}/{wallet}/description", {"description": "line 1\nline 2"})
    assert described.body["description"] == "line 1\nline 2"
    assert described.body["updatedAt"] >= before["updatedAt"]
    cleared = await api.put(f"{base}/{wallet}/name", {"name": ""})
    assert cleared.body["name"] == ""
    for path, body in (
        ("name", {"name": "x" * 201}),
        ("name", {"name": "a\tb"}),
        ("name", {}),
        ("description", {"description": "x" * 1001}),
        ("description", {"description": "bell\u0007"}),
        ("description", {"description": None}),
        ("status", {"status": "open"}),
        ("status", {"status": None}),
        ("status", {}),
    ):
        reply = await api.put(f"{base}/{wallet}/{path}", body)
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), body
    for path, body in (("name", {"name": "x"}), ("description", {"description": "x"})):
        missing = await api.put(f"{base}/nope/{path}", body)
        assert (missing.status, missing.body["error"]["code"]) == (404, "WalletNotFound")
    final = (await api.get(f"{base}/{wallet}")).body
    assert (final["name"], final["description"], final["status"]) == ("", "line 1\nline 2", "Open")


async def test_every_pair_of_the_transition_table(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/wallets"
    for current, target in itertools.product(STATUSES, repeat=2):
        wallet = await ledger.system_wallet()
        for step in {"Open": [], "Suspended": ["Suspended"], "Closed": ["Closed"]}[current]:
            assert (await api.put(f"{base}/{wallet}/status", {"status": step})).status == 200
        reply = await api.put(f"{base}/{wallet}/status", {"status": target})
        if current == target or (current, target) in ALLOWED:
            assert (reply.status, reply.body["status"]) == (200, target), (current, target)
        else:
            assert reply.status == 409, (current, target)
            assert reply.body["error"]["code"] == "InvalidStatusTransition"
            assert reply.body["error"]["details"]["status"] == current
            assert (await api.get(f"{base}/{wallet}")).body["status"] == current
    missing = await api.put(f"{base}/nope/status", {"status": "Closed"})
    assert (missing.status, missing.body["error"]["code"]) == (404, "WalletNotFound")


async def test_only_an_empty_wallet_closes(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    wallet = await ledger.system_wallet()
    await api.run(ledger.project_id, [issue(wallet, 5)])
    for status in ("Closed", "Suspended", "Closed"):
        reply = await api.put(f"{base}/wallets/{wallet}/status", {"status": status})
        if status == "Closed":
            assert (reply.status, reply.body["error"]["code"]) == (409, "WalletNotEmpty")
            assert reply.body["error"]["details"]["balance"] == "5"
    assert (await api.get(f"{base}/wallets/{wallet}")).body["status"] == "Suspended"
    await api.put(f"{base}/wallets/{wallet}/status", {"status": "Open"})
    await api.run(ledger.project_id, [redeem(wallet, 5)])
    closed = await api.put(f"{base}/wallets/{wallet}/status", {"status": "Closed"})
    assert (closed.status, closed.body["status"], closed.body["balance"]) == (200, "Closed", "0")
    late = await api.run(ledger.project_id, [issue(wallet, 1)])
    assert (late["status"], late["failure"]["code"]) == ("Failed", "WalletNotOpen")


async def test_a_close_waits_for_a_batch_holding_the_wallet(
    ledger: Ledger, migrated: Settings
) -> None:
    """Play the worker by hand: lock the wallet row as a batch does, let the close request
    arrive, then credit the wallet and commit. The close must see the credit and refuse."""
    api, base = ledger.api, f"/projects/{ledger.project_id}/wallets"
    wallet = await ledger.system_wallet()
    connection = await asyncpg.connect(migrated.database_url.get_secret_value())
    try:
        batch = connection.transaction()
        await batch.start()
        await connection.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", wallet)
        close = asyncio.create_task(api.put(f"{base}/{wallet}/status", {"status": "Closed"}))
        await _until_a_backend_waits_for_a_lock(connection)
        assert not close.done()
        await connection.execute("UPDATE wallets SET balance = 5 WHERE id = $1", wallet)
        await batch.commit()
    finally:
        await connection.close()
    reply = await close
    assert (reply.status, reply.body["error"]["code"]) == (409, "WalletNotEmpty")
    await fetch_rows(migrated, "UPDATE wallets SET balance = 0 WHERE id = $1", wallet)


async def _until_a_backend_waits_for_a_lock(connection: asyncpg.Connection) -> None:
    for _ in range(200):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
        if waiting:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("no request came to wait for the wallet's lock")


async def test_a_wallet_never_ends_closed_with_a_balance(
    ledger: Ledger, migrated: Settings
) -> None:
    """Credits and closes race on one wallet; whichever wins, a Closed wallet holds 0 and
    took no credit, and an Open one holds exactly what the Completed credits brought."""
    api, project = ledger.api, ledger.project_id
    treasury = await ledger.system_wallet()
    await api.run(project, [issue(treasury, 10_000)])
    outcomes = []
    for round_number in range(8):
        wallet = await ledger.customer_wallet()
        credits = [api.submit(project, [transfer(treasury, wallet, 1)]) for _ in range(8)]
        closes = [
            _close_later(ledger, wallet, delay_s=round_number * 0.004 + index * 0.002)
            for index in range(8)
        ]
        accepted, _ = await asyncio.gather(asyncio.gather(*credits), asyncio.gather(*closes))
        finals = [await api.final(project, item["id"]) for item in accepted]
        completed = sum(final["status"] == "Completed" for final in finals)
        state = (await api.get(f"/projects/{project}/wallets/{wallet}")).body
        if state["status"] == "Closed":
            assert (state["balance"], completed) == ("0", 0)
        else:
            assert int(state["balance"]) == completed > 0
        outcomes.append(state["status"])
    bad = await fetch_rows(
        migrated,
        "SELECT id FROM wallets WHERE project_id = $1 AND status = 'Closed' AND balance <> 0",
        project,
    )
    assert bad == []
    await assert_ledger_consistent(migrated, project)


async def _close_later(ledger: Ledger, wallet: str, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    reply = await ledger.api.put(
        f"/projects/{ledger.project_id}/wallets/{wallet}/status", {"status": "Closed"}
    )
    assert reply.status in (200, 409)


async def test_a_transaction_after_a_suspension_never_uses_the_wallet(
    ledger: Ledger, migrated: Settings
) -> None:
    """Transfers stream in while the wallet is suspended: every one submitted after the
    suspension answered fails WalletNotOpen, and the ledger stays consistent."""
    api, project = ledger.api, ledger.project_id
    treasury, wallet = await ledger.system_wallet(), await ledger.customer_wallet()
    await api.run(project, [issue(treasury, 1000)])
    before = [await api.submit(project, [transfer(treasury, wallet, 1)]) for _ in range(10)]
    suspended = await api.put(
        f"/projects/{project}/wallets/{wallet}/status", {"status": "Suspended"}
    )
    assert suspended.status == 200
    after = [await api.submit(project, [transfer(treasury, wallet, 1)]) for _ in range(10)]
    finals_before = [await api.final(project, item["id"]) for item in before]
    for item in after:
        final = await api.final(project, item["id"])
        assert (final["status"], final["failure"]["code"]) == ("Failed", "WalletNotOpen")
    completed = sum(final["status"] == "Completed" for final in finals_before)
    assert await api.balance(project, wallet) == completed
    await assert_ledger_consistent(migrated, project)
