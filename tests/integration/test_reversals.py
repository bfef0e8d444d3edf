"""Reversals and transaction metadata through the in-process gateway and worker on the real
services: a reversal restores every balance and links both ways, at most once even when
submitted concurrently, refused for Failed transactions and holds, failing InsufficientFunds
with nothing moved; metadata round trips and is validated; the asset totals the writer keeps."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.settings import Settings
from tests.support import (
    Ledger,
    assert_ledger_consistent,
    fetch_rows,
    issue,
    redeem,
    transfer,
)


async def reverse(ledger: Ledger, transaction_id: str, reference_id: str, **body: Any) -> Any:
    return await ledger.api.post(
        f"/projects/{ledger.project_id}/transactions/{transaction_id}/reversal",
        {"referenceId": reference_id, **body},
    )


async def reversed_final(ledger: Ledger, transaction_id: str, reference_id: str) -> Any:
    reply = await reverse(ledger, transaction_id, reference_id)
    assert reply.status == 202, reply.body
    return await ledger.api.final(ledger.project_id, reply.body["id"])


async def test_a_reversal_restores_balances_and_links_both_ways(
    ledger: Ledger, migrated: Settings
) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, alice = await ledger.system_wallet(), await ledger.customer_wallet()
    await api.run(project, [issue(treasury, 100)])
    original = await api.run(
        project, [issue(treasury, 50), transfer(treasury, alice, 70), redeem(alice, 20)]
    )
    assert original["status"] == "Completed"
    undone = await reversed_final(ledger, original["id"], "undo-1")
    assert undone["status"] == "Completed", undone
    assert undone["reversalOf"] == original["id"]
    assert undone["operations"] == [
        {"type": "Issue", "to": alice, "amount": "20"},
        {"type": "Transfer", "from": alice, "to": treasury, "amount": "70"},
        {"type": "Redeem", "from": treasury, "amount": "50"},
    ]
    assert (await api.balance(project, treasury), await api.balance(project, alice)) == (100, 0)
    shown = await api.get(f"/projects/{project}/transactions/{original['id']}")
    assert shown.body["reversedBy"] == undone["id"]
    listed = await api.get(f"/projects/{project}/transactions")
    by_id = {item["id"]: item for item in listed.body["items"]}
    assert by_id[original["id"]]["reversedBy"] == undone["id"]
    assert by_id[undone["id"]]["reversalOf"] == original["id"]
    # At most once.
    again = await reversed_final(ledger, original["id"], "undo-2")
    assert again["failure"]["code"] == "AlreadyReversed"
    assert again["reversalOf"] == original["id"] and again["operations"] == []
    await assert_ledger_consistent(migrated, project)


async def test_concurrent_reversals_apply_once(ledger: Ledger, migrated: Settings) -> None:
    api, project = ledger.api, ledger.project_id
    treasury = await ledger.system_wallet()
    original = await api.run(project, [issue(treasury, 10)])
    replies = await asyncio.gather(
        *(reverse(ledger, original["id"], f"undo-{n}") for n in range(10))
    )
    assert all(reply.status == 202 for reply in replies), replies
    finals = await asyncio.gather(*(api.final(project, reply.body["id"]) for reply in replies))
    codes = sorted(
        final["failure"]["code"] if final["status"] == "Failed" else "Completed" for final in finals
    )
    assert codes == ["AlreadyReversed"] * 9 + ["Completed"]
    assert await api.balance(project, treasury) == 0
    await assert_ledger_consistent(migrated, project)


async def test_what_cannot_be_reversed(ledger: Ledger, migrated: Settings) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, alice = await ledger.system_wallet(), await ledger.customer_wallet()
    failed = await api.run(project, [transfer(treasury, alice, 5)])
    assert failed["status"] == "Failed"
    assert (await reversed_final(ledger, failed["id"], "u1"))["failure"]["code"] == (
        "NotReversible"
    )
    await api.run(project, [issue(treasury, 10)])
    held = await api.run(project, [{"type": "Hold", "from": treasury, "amount": "3"}])
    assert (await reversed_final(ledger, held["id"], "u2"))["failure"]["code"] == "NotReversible"
    # The inverse would overdraw: InsufficientFunds, nothing moved.
    paid = await api.run(project, [transfer(treasury, alice, 7)])
    await api.run(project, [redeem(alice, 5)])
    overdrawn = await reversed_final(ledger, paid["id"], "u3")
    assert overdrawn["failure"]["code"] == "InsufficientFunds"
    assert (await api.balance(project, alice)) == 2
    # Unknown: 404 at once, nothing published.
    unknown = await reverse(ledger, "01NOSUCHTRANSACTION0000000", "u4")
    assert unknown.status == 404
    assert unknown.body["error"]["code"] == "TransactionNotFound"
    rows = await fetch_rows(
        migrated,
        "SELECT count(*) FROM transactions WHERE project_id = $1 AND reference_id = 'u4'",
        project,
    )
    assert rows[0]["count"] == 0
    await assert_ledger_consistent(migrated, project)


async def test_reversal_reference_ids_are_idempotent(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury = await ledger.system_wallet()
    first = await api.run(project, [issue(treasury, 4)])
    second = await api.run(project, [issue(treasury, 6)])
    accepted = await reverse(ledger, first["id"], "undo")
    assert accepted.status == 202
    await api.final(project, accepted.body["id"])
    same = await reverse(ledger, first["id"], "undo")
    assert same.status == 409
    assert same.body["error"]["details"]["requestMatches"] is True
    other = await reverse(ledger, second["id"], "undo")
    assert other.status == 409
    assert other.body["error"]["details"]["requestMatches"] is False
    assert await api.balance(project, treasury) == 6


async def test_transaction_metadata_round_trips_and_is_validated(
    ledger: Ledger, migrated: Settings
) -> None:
    api, project = ledger.api, ledger.project_id
    treasury = await ledger.system_wallet()
    metadata = {"orderId": "A-1042", "channel.name": "web", "empty": ""}
    reply = await api.post(
        f"/projects/{project}/transactions",
        {"referenceId": "m1", "operations": [issue(treasury, 1)], "metadata": metadata},
    )
    assert reply.status == 202
    done = await api.final(project, reply.body["id"])
    assert done["metadata"] == metadata
    plain = await api.run(project, [issue(treasury, 1)])
    assert plain["metadata"] == {}
    bad = [
        {"k": 1},
        {"bad key": "v"},
        {"": "v"},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {f"k{n}": "v" for n in range(33)},
        {f"k{n}": "v" * 300 for n in range(30)},  # over 8 KiB
        {"k": "line\u2028separator"},
        ["not", "an", "object"],
    ]
    for value in bad:
        refused = await api.post(
            f"/projects/{project}/transactions",
            {"referenceId": "bad", "operations": [issue(treasury, 1)], "metadata": value},
        )
        assert refused.status == 400, (value, refused.body)
        assert refused.body["error"]["code"] == "ValidationError"
    rows = await fetch_rows(
        migrated,
        "SELECT count(*) FROM transactions WHERE project_id = $1 AND reference_id = 'bad'",
        project,
    )
    assert rows[0]["count"] == 0


async def test_the_writer_keeps_asset_totals(ledger: Ledger, migrated: Settings) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, alice = await ledger.system_wallet(), await ledger.customer_wallet()
    await api.run(project, [issue(treasury, 1000), transfer(treasury, alice, 300)])
    await api.run(project, [redeem(alice, 100)])
    held = await api.run(project, [{"type": "Hold", "from": alice, "amount": "50"}])
    await api.run(project, [{"type": "Hold", "from": treasury, "to": alice, "amount": "25"}])
    await api.run(
        project, [{"type": "Capture", "holdId": held["operations"][0]["holdId"], "amount": "20"}]
    )
    (row,) = await fetch_rows(
        migrated, "SELECT * FROM asset_totals WHERE asset_id = $1", ledger.asset_id
    )
    assert (int(row["issued"]), int(row["redeemed"]), int(row["held"])) == (1000, 120, 25)
    await assert_ledger_consistent(migrated, project)
