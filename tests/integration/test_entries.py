"""A wallet's ledger through HTTP: the shape of each entry with balanceAfter, newest first
or oldest first, pages, the time window (from inclusive, to exclusive) and the cursor, which
walks the same entries as the pages do."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from shared.settings import Settings
from tests.support import Ledger, fetch_rows, issue, redeem, transfer


def epoch_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


async def entries(ledger: Ledger, wallet: str, query: str = "") -> dict[str, Any]:
    reply = await ledger.api.get(f"/projects/{ledger.project_id}/wallets/{wallet}/entries{query}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


async def test_entries_shape_and_order(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, wallet = await ledger.system_wallet(), await ledger.customer_wallet()
    funded = await api.run(project, [issue(treasury, 100), transfer(treasury, wallet, 30)])
    spent = await api.run(project, [redeem(wallet, 10)])
    newest = await entries(ledger, wallet)
    assert newest["hasMore"] is False and newest["nextCursor"] is None
    credit, spend = newest["items"][1], newest["items"][0]
    assert credit == {
        "id": credit["id"],
        "walletId": wallet,
        "transactionId": funded["id"],
        "operationIndex": 1,
        "type": "Credit",
        "amount": "30",
        "balanceAfter": "30",
        "heldAfter": "0",
        "counterpartyWalletId": treasury,
        "createdAt": credit["createdAt"],
    }
    assert (spend["type"], spend["amount"], spend["balanceAfter"]) == ("Redeem", "10", "20")
    assert (spend["transactionId"], spend["counterpartyWalletId"]) == (spent["id"], None)
    assert credit["id"].isdigit() and int(spend["id"]) > int(credit["id"])
    oldest = await entries(ledger, wallet, "?order=asc")
    assert oldest["items"] == newest["items"][::-1]
    treasury_entries = (await entries(ledger, treasury, "?order=asc"))["items"]
    assert [(e["type"], e["balanceAfter"]) for e in treasury_entries] == [
        ("Issue", "100"),
        ("Debit", "70"),
    ]
    assert (await entries(ledger, await ledger.system_wallet()))["items"] == []


async def test_pages_and_cursor_walk_the_same_entries(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    for amount in range(1, 8):
        await api.submit(project, [issue(wallet, amount)])
    await api.run(project, [issue(wallet, 100)])
    for order in ("desc", "asc"):
        everything = (await entries(ledger, wallet, f"?order={order}"))["items"]
        assert len(everything) == 8
        paged, cursor_walk = [], []
        for page in (1, 2, 3):
            body = await entries(ledger, wallet, f"?order={order}&pageSize=3&page={page}")
            paged += body["items"]
            assert body["hasMore"] is (page < 3)
        query = f"?order={order}&pageSize=3"
        while True:
            body = await entries(ledger, wallet, query)
            cursor_walk += body["items"]
            if body["nextCursor"] is None:
                assert body["hasMore"] is False
                break
            query = f"?order={order}&pageSize=3&cursor={body['nextCursor']}"
        assert paged == cursor_walk == everything
    balances = [int(entry["balanceAfter"]) for entry in everything]
    assert balances == [1, 3, 6, 10, 15, 21, 28, 128]


def id_cursor(entry_id: str) -> str:
    """A cursor as the ledger gave them when it was ordered by id alone (before decision 0024)."""
    return base64.urlsafe_b64encode(f"e.{entry_id}".encode()).rstrip(b"=").decode()


async def test_a_cursor_of_the_id_ordered_ledger_goes_on_where_it_was(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet, other = await ledger.system_wallet(), await ledger.system_wallet()
    for amount in range(1, 6):
        await api.submit(project, [issue(wallet, amount)])
    await api.run(project, [issue(wallet, 100), issue(other, 1)])
    oldest = (await entries(ledger, wallet, "?order=asc"))["items"]
    newest = oldest[::-1]
    after_second = await entries(
        ledger, wallet, f"?order=asc&pageSize=2&cursor={id_cursor(oldest[1]['id'])}"
    )
    assert after_second["items"] == oldest[2:4]
    before_second = await entries(
        ledger, wallet, f"?pageSize=10&cursor={id_cursor(newest[1]['id'])}"
    )
    assert before_second["items"] == newest[2:]
    others = (await entries(ledger, other))["items"]
    for cursor in (id_cursor(others[0]["id"]), id_cursor("999999999999")):
        reply = await api.get(f"/projects/{project}/wallets/{wallet}/entries?cursor={cursor}")
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), cursor


async def test_the_time_window(ledger: Ledger, migrated: Settings) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    for amount in (1, 2, 3):
        await api.run(project, [issue(wallet, amount)])
    rows = await fetch_rows(
        migrated, "SELECT id, created_at FROM entries WHERE wallet_id = $1 ORDER BY id", wallet
    )
    times = [epoch_ms(row["created_at"]) for row in rows]
    assert times == sorted(set(times)), "each entry was posted in its own millisecond or later"
    middle = await entries(ledger, wallet, f"?from={times[1]}&to={times[2]}")
    assert [entry["amount"] for entry in middle["items"]] == ["2"]
    from_second = await entries(ledger, wallet, f"?from={times[1]}&order=asc")
    assert [entry["amount"] for entry in from_second["items"]] == ["2", "3"]
    before_last = await entries(ledger, wallet, f"?to={times[2]}")
    assert [entry["amount"] for entry in before_last["items"]] == ["2", "1"]
    empty = await entries(ledger, wallet, f"?from={times[2] + 1000}")
    assert empty["items"] == []
    reversed_window = await entries(ledger, wallet, f"?from={times[2]}&to={times[0]}")
    assert reversed_window["items"] == []


async def test_bad_entry_queries_are_400(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    base = f"/projects/{project}/wallets/{wallet}/entries"
    transactions_cursor = (await api.get(f"/projects/{project}/transactions")).body
    assert transactions_cursor["nextCursor"] is None
    for query in (
        "order=up",
        "from=-5",
        "to=1.5",
        "from=99999999999999999",
        "cursor=%%%",
        "cursor=abc",
        "cursor=" + "x" * 201,
        "cursor=ZS4x&page=2",
        "cursor=dC4xLjAxSkQz",
        "pageSize=501",
        "order=asc&order=desc",
    ):
        reply = await api.get(f"{base}?{query}")
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), query
    missing = await api.get(f"/projects/{project}/wallets/nope/entries")
    assert (missing.status, missing.body["error"]["code"]) == (404, "WalletNotFound")


async def test_a_cursor_walk_within_a_window(ledger: Ledger, migrated: Settings) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    for amount in range(1, 9):
        await api.run(project, [issue(wallet, amount)])
    rows = await fetch_rows(
        migrated, "SELECT created_at FROM entries WHERE wallet_id = $1 ORDER BY id", wallet
    )
    times = [epoch_ms(row["created_at"]) for row in rows]
    window = f"from={times[2]}&to={times[6]}"  # the entries of 3, 4, 5 and 6
    for order, expected in (("asc", ["3", "4", "5", "6"]), ("desc", ["6", "5", "4", "3"])):
        walked: list[str] = []
        query = f"?order={order}&pageSize=3&{window}"
        for _ in range(5):  # bounded: two pages
            body = await entries(ledger, wallet, query)
            walked += [entry["amount"] for entry in body["items"]]
            if body["nextCursor"] is None:
                break
            query = f"?order={order}&pageSize=3&{window}&cursor={body['nextCursor']}"
        assert walked == expected, order
