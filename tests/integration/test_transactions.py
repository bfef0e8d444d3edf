"""Transactions through the in-process gateway and worker on the real services: outcomes,
balances, entries, duplicate reference IDs, and the ledger invariants after concurrent load."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from shared.settings import Settings
from tests.support import Api, Ledger, assert_ledger_consistent, namespace_settings, new_ledger


def issue(to: str, amount: int) -> dict[str, object]:
    return {"type": "Issue", "to": to, "amount": str(amount)}


def transfer(source: str, target: str, amount: int) -> dict[str, object]:
    return {"type": "Transfer", "from": source, "to": target, "amount": str(amount)}


def redeem(source: str, amount: int) -> dict[str, object]:
    return {"type": "Redeem", "from": source, "amount": str(amount)}


async def test_issue_transfer_redeem_complete_and_move_balances(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, alice = await ledger.system_wallet(), await ledger.customer_wallet()
    accepted = await api.submit(project, [issue(treasury, 1000), transfer(treasury, alice, 300)])
    assert accepted["status"] == "Pending"
    done = await api.final(project, accepted["id"])
    assert done["status"] == "Completed"
    assert done["completedAt"] >= done["createdAt"]
    assert (await api.run(project, [redeem(alice, 100)]))["status"] == "Completed"
    assert (await api.balance(project, treasury), await api.balance(project, alice)) == (700, 200)
    await assert_ledger_consistent(api_settings(api), project)


async def test_submit_answers_202_with_location(ledger: Ledger) -> None:
    wallet = await ledger.system_wallet()
    reply = await ledger.api.post(
        f"/projects/{ledger.project_id}/transactions",
        {"referenceId": "order-1", "operations": [{"type": "Issue", "to": wallet, "amount": 5}]},
    )
    assert reply.status == 202
    assert reply.body == {"id": reply.body["id"], "referenceId": "order-1", "status": "Pending"}
    assert len(reply.body["id"]) <= 30
    location = reply.headers["Location"]
    assert location == f"/projects/{ledger.project_id}/transactions/{reply.body['id']}"


async def test_the_docs_example_order_of_operations(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, w1, w2 = (
        await ledger.system_wallet(),
        await ledger.customer_wallet(),
        await ledger.customer_wallet(),
    )
    await api.run(project, [issue(w1, 5), issue(w2, 7), issue(treasury, 100)])
    failed = await api.run(project, [transfer(w1, w2, 11), transfer(treasury, w1, 6)])
    assert failed["status"] == "Failed"
    assert failed["failure"] == {
        "operationIndex": 0,
        "code": "InsufficientFunds",
        "message": failed["failure"]["message"],
    }
    assert (await api.balance(project, w1), await api.balance(project, w2)) == (5, 7)
    done = await api.run(project, [transfer(treasury, w1, 6), transfer(w1, w2, 11)])
    assert done["status"] == "Completed"
    assert (await api.balance(project, w1), await api.balance(project, w2)) == (0, 18)
    await assert_ledger_consistent(api_settings(api), project)


async def test_failure_codes_reach_the_client(ledger: Ledger, other_api: Api) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    euro = await api.created(
        f"/projects/{project}/assets", {"name": "Euro", "code": "EUR", "fractions": 100}
    )
    euro_wallet = await ledger.system_wallet(euro["id"])
    foreign = await new_ledger(other_api)
    foreign_wallet = await foreign.system_wallet()
    cases = [
        ([transfer(wallet, wallet, 1)], "SameWallet"),
        ([issue("no-such-wallet", 1)], "WalletNotFound"),
        ([issue(foreign_wallet, 1)], "WalletNotFound"),
        ([issue(wallet, 1), transfer(wallet, euro_wallet, 1)], "AssetMismatch"),
        ([redeem(wallet, 1)], "InsufficientFunds"),
        ([issue(wallet, 2**127 - 1), issue(wallet, 1)], "BalanceOverflow"),
    ]
    for operations, code in cases:
        result = await api.run(project, operations)
        assert (result["status"], result["failure"]["code"]) == ("Failed", code), operations
    assert await api.balance(project, wallet) == 0
    assert await other_api.balance(foreign.project_id, foreign_wallet) == 0


async def test_duplicate_reference_id_answers_409_with_the_transaction(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    first = await api.run(project, [issue(wallet, 10)], reference_id="ref-1")
    same = await api.post(
        f"/projects/{project}/transactions",
        {"referenceId": "ref-1", "operations": [issue(wallet, 10)]},
    )
    assert same.status == 409
    assert same.body["error"]["code"] == "DuplicateReferenceId"
    assert same.body["error"]["details"] == {"requestMatches": True, "transaction": first}
    different = await api.post(
        f"/projects/{project}/transactions",
        {"referenceId": "ref-1", "operations": [issue(wallet, 11)]},
    )
    assert different.status == 409
    assert different.body["error"]["details"]["requestMatches"] is False
    assert await api.balance(project, wallet) == 10


async def test_reference_ids_are_per_project(ledger: Ledger) -> None:
    other = await new_ledger(ledger.api)
    one, two = await ledger.system_wallet(), await other.system_wallet()
    assert (await ledger.api.run(ledger.project_id, [issue(one, 1)], "shared"))["status"] == (
        "Completed"
    )
    assert (await ledger.api.run(other.project_id, [issue(two, 1)], "shared"))["status"] == (
        "Completed"
    )


async def test_unknown_transaction_is_404(ledger: Ledger, other_api: Api) -> None:
    api, project = ledger.api, ledger.project_id
    missing = await api.get(f"/projects/{project}/transactions/01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert (missing.status, missing.body["error"]["code"]) == (404, "TransactionNotFound")
    wallet = await ledger.system_wallet()
    done = await api.run(project, [issue(wallet, 1)])
    stranger = await other_api.get(f"/projects/{project}/transactions/{done['id']}")
    assert (stranger.status, stranger.body["error"]["code"]) == (404, "ProjectNotFound")


async def test_concurrent_transfers_keep_every_invariant(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallets = [await ledger.customer_wallet() for _ in range(8)]
    await api.run(project, [issue(wallet, 50) for wallet in wallets])
    generator = random.Random(7)

    async def one(index: int) -> dict[str, object]:
        source, target = generator.sample(wallets, 2)
        return await api.submit(
            project,
            [transfer(source, target, generator.randint(1, 40))],
            reference_id=f"load-{index}",
        )

    accepted = await asyncio.gather(*(one(index) for index in range(200)))
    finals = [await api.final(project, str(item["id"])) for item in accepted]
    statuses = {str(final["status"]) for final in finals}
    assert statuses <= {"Completed", "Failed"}
    assert "Completed" in statuses
    balances = [await api.balance(project, wallet) for wallet in wallets]
    assert sum(balances) == 8 * 50
    assert min(balances) >= 0
    await assert_ledger_consistent(
        api_settings(api), project, [(str(a["id"]), str(a["referenceId"])) for a in accepted]
    )


async def test_transactions_of_a_project_apply_in_submission_order(ledger: Ledger) -> None:
    """Each transfer spends exactly what the previous one gave, so any reordering fails one."""
    api, project = ledger.api, ledger.project_id
    one, two = await ledger.customer_wallet(), await ledger.customer_wallet()
    await api.run(project, [issue(one, 1)])
    accepted = []
    for step in range(30):
        source, target = (one, two) if step % 2 == 0 else (two, one)
        accepted.append(await api.submit(project, [transfer(source, target, 1)]))
    finals = [await api.final(project, str(item["id"])) for item in accepted]
    assert [final["status"] for final in finals] == ["Completed"] * 30


async def test_entries_are_stored_with_balance_after(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    one, two = await ledger.system_wallet(), await ledger.customer_wallet()
    done = await api.run(project, [issue(one, 9), transfer(one, two, 4)])
    connection = await asyncpg.connect(api_settings(api).database_url.get_secret_value())
    try:
        rows = await connection.fetch(
            "SELECT wallet_id, operation_index, type, amount, balance_after,"
            " counterparty_wallet_id FROM entries WHERE transaction_id = $1 ORDER BY id",
            done["id"],
        )
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [
        (one, 0, "Issue", 9, 9, None),
        (one, 1, "Debit", 4, 5, two),
        (two, 1, "Credit", 4, 4, one),
    ]


def api_settings(api: Api) -> Settings:
    return namespace_settings()
