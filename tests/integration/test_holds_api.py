"""Holds through HTTP against the real services: a wallet's held and available balances, a
hold read by id and listed with its filters and cursor, another project's hold answering 404,
entries with heldAfter, a wallet with a Pending hold refusing to close, and bad operations on
holds refused at submission with a 400 that stores nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as redis

from shared.ids import new_id
from shared.redis.status_cache import reference_key
from shared.settings import Settings
from tests.support import Api, Ledger, capture, fetch_rows, hold, issue, new_ledger, void


async def completed(api: Api, project: str, operations: list[dict[str, object]]) -> dict[str, Any]:
    done = await api.run(project, operations)
    assert done["status"] == "Completed", done
    return done


async def make_hold(api: Api, project: str, operation: dict[str, object]) -> str:
    """The id of the hold a completed one-operation transaction made."""
    done = await completed(api, project, [operation])
    return str(done["operations"][0]["holdId"])


async def get_hold(api: Api, project: str, hold_id: str) -> dict[str, Any]:
    reply = await api.get(f"/projects/{project}/holds/{hold_id}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


async def get_wallet(api: Api, project: str, wallet: str) -> dict[str, Any]:
    reply = await api.get(f"/projects/{project}/wallets/{wallet}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def balances(wallet: dict[str, Any]) -> tuple[str, str, str]:
    return wallet["balance"], wallet["heldBalance"], wallet["availableBalance"]


async def funded(ledger: Ledger, amount: int) -> tuple[str, str, str]:
    """A treasury, a customer's wallet given `amount` by an Issue, and the customer's id."""
    customer = f"customer-{new_id()}"
    treasury, wallet = await ledger.system_wallet(), await ledger.customer_wallet(customer)
    await completed(ledger.api, ledger.project_id, [issue(wallet, amount)])
    return treasury, wallet, customer


async def test_a_hold_shows_on_the_wallet_and_as_a_resource(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, wallet, customer = await funded(ledger, 100)
    made = await completed(api, project, [hold(wallet, 30, treasury, timeout_s=3600)])
    hold_id = made["operations"][0]["holdId"]
    assert hold_id == f"{made['id']}-0"
    assert made["operations"] == [
        {"type": "Hold", "from": wallet, "to": treasury, "amount": "30", "timeoutS": 3600}
        | {"holdId": hold_id}
    ]
    shown = await get_wallet(api, project, wallet)
    assert balances(shown) == ("100", "30", "70")
    customer_wallets = await api.get(f"/projects/{project}/customers/{customer}/wallets")
    assert customer_wallets.body["items"] == [shown]
    treasury_shown = (await api.get(f"/projects/{project}/system-wallets")).body["items"]
    assert [balances(item) for item in treasury_shown] == [("0", "0", "0")]

    pending = await get_hold(api, project, hold_id)
    assert pending == {
        "id": hold_id,
        "projectId": project,
        "walletId": wallet,
        "toWalletId": treasury,
        "amount": "30",
        "capturedAmount": "0",
        "status": "Pending",
        "transactionId": made["id"],
        "resolvedByTransactionId": None,
        "expiresAt": pending["expiresAt"],
        "createdAt": made["completedAt"],
        "resolvedAt": None,
    }
    assert moment(pending["expiresAt"]) == moment(made["completedAt"]) + timedelta(seconds=3600)

    captured = await completed(api, project, [capture(hold_id, 10)])
    assert captured["operations"] == [capture(hold_id, 10)]
    assert balances(await get_wallet(api, project, wallet)) == ("90", "0", "90")
    assert balances(await get_wallet(api, project, treasury)) == ("10", "0", "10")
    resolved = await get_hold(api, project, hold_id)
    assert resolved == pending | {
        "status": "Captured",
        "capturedAmount": "10",
        "resolvedByTransactionId": captured["id"],
        "resolvedAt": captured["completedAt"],
    }


async def test_a_redeem_hold_voided_and_the_transaction_as_listed(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    _, wallet, _ = await funded(ledger, 50)
    made = await completed(api, project, [hold(wallet, 50)])
    hold_id = made["operations"][0]["holdId"]
    assert made["operations"] == [
        {"type": "Hold", "from": wallet, "amount": "50"} | {"holdId": hold_id}
    ]
    assert balances(await get_wallet(api, project, wallet)) == ("50", "50", "0")
    voided = await completed(api, project, [void(hold_id)])
    shown = await get_hold(api, project, hold_id)
    assert (shown["toWalletId"], shown["expiresAt"], shown["status"]) == (None, None, "Voided")
    assert (shown["capturedAmount"], shown["resolvedByTransactionId"]) == ("0", voided["id"])
    assert balances(await get_wallet(api, project, wallet)) == ("50", "0", "50")
    listed = (await api.get(f"/projects/{project}/transactions?order=asc")).body["items"]
    assert listed[-2:] == [made, voided]


async def test_entries_carry_held_after(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, wallet, _ = await funded(ledger, 100)
    hold_id = await make_hold(api, project, hold(wallet, 40, treasury))
    done = await completed(api, project, [capture(hold_id, 25)])
    reply = await api.get(f"/projects/{project}/wallets/{wallet}/entries?order=asc")
    rows = [
        (e["type"], e["amount"], e["balanceAfter"], e["heldAfter"], e["counterpartyWalletId"])
        for e in reply.body["items"]
    ]
    assert rows == [
        ("Issue", "100", "100", "0", None),
        ("Hold", "40", "100", "40", treasury),
        ("Release", "40", "100", "0", treasury),
        ("Debit", "25", "75", "0", treasury),
    ]
    assert {e["transactionId"] for e in reply.body["items"][2:]} == {done["id"]}
    credited = await api.get(f"/projects/{project}/wallets/{treasury}/entries")
    assert [(e["type"], e["balanceAfter"], e["heldAfter"]) for e in credited.body["items"]] == [
        ("Credit", "25", "0")
    ]


async def holds_listed(ledger: Ledger, query: str = "") -> dict[str, Any]:
    reply = await ledger.api.get(f"/projects/{ledger.project_id}/holds{query}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def test_the_holds_list_filters_pages_and_walks_by_cursor(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, first, _ = await funded(ledger, 100)
    second = await ledger.customer_wallet()
    await completed(api, project, [issue(second, 100)])
    made = [
        await make_hold(api, project, hold(wallet, amount, treasury))
        for wallet, amount in ((first, 1), (second, 2), (first, 3), (first, 4), (second, 5))
    ]
    # Two holds made by one transaction share their time and are ordered by id.
    pair = await completed(api, project, [hold(first, 6), hold(second, 7)])
    made += [operation["holdId"] for operation in pair["operations"]]
    await completed(api, project, [void(made[2]), capture(made[1])])

    everything = await holds_listed(ledger)
    assert ids(everything) == made[::-1]
    assert (everything["hasMore"], everything["nextCursor"], everything["pageSize"]) == (
        False,
        None,
        50,
    )
    assert ids(await holds_listed(ledger, "?order=asc")) == made
    assert everything["items"][-1] == await get_hold(api, project, made[0])
    on_first = [made[index] for index in (0, 2, 3, 5)]
    assert ids(await holds_listed(ledger, f"?walletId={first}")) == on_first[::-1]
    pending = [made[index] for index in (0, 3, 4, 5, 6)]
    assert ids(await holds_listed(ledger, "?status=Pending")) == pending[::-1]
    assert ids(await holds_listed(ledger, "?status=Voided")) == [made[2]]
    assert ids(await holds_listed(ledger, "?status=Captured")) == [made[1]]
    assert ids(await holds_listed(ledger, "?status=Expired")) == []
    both = await holds_listed(ledger, f"?walletId={first}&status=Pending&order=asc")
    assert ids(both) == [made[0], made[3], made[5]]
    assert ids(await holds_listed(ledger, f"?walletId={treasury}")) == []

    for order, expected in (("desc", made[::-1]), ("asc", made)):
        walk, query = [], f"?order={order}&pageSize=2"
        for _ in range(10):
            body = await holds_listed(ledger, query)
            walk += ids(body)
            assert body["hasMore"] is (body["nextCursor"] is not None)
            if body["nextCursor"] is None:
                break
            query = f"?order={order}&pageSize=2&cursor={body['nextCursor']}"
        assert walk == expected
        assert (
            ids(await holds_listed(ledger, f"?order={order}&pageSize=2&page=2")) == (expected[2:4])
        )
    query = f"?walletId={first}&pageSize=3"
    first_page = await holds_listed(ledger, query)
    rest = await holds_listed(ledger, f"{query}&cursor={first_page['nextCursor']}")
    assert ids(first_page) + ids(rest) == on_first[::-1] and rest["nextCursor"] is None


async def test_another_projects_hold_is_not_found(ledger: Ledger, api: Api, other_api: Api) -> None:
    project = ledger.project_id
    _, wallet, _ = await funded(ledger, 10)
    hold_id = await make_hold(api, project, hold(wallet, 5))
    missing = await api.get(f"/projects/{project}/holds/{new_id()}-0")
    assert (missing.status, missing.body["error"]["code"]) == (404, "HoldNotFound")
    own_other_project = await new_ledger(api)
    elsewhere = await api.get(f"/projects/{own_other_project.project_id}/holds/{hold_id}")
    assert (elsewhere.status, elsewhere.body["error"]["code"]) == (404, "HoldNotFound")
    assert elsewhere.body["error"]["message"] == f"hold {hold_id} not found"
    listed = await api.get(f"/projects/{own_other_project.project_id}/holds?walletId={wallet}")
    assert (listed.status, listed.body["items"]) == (200, [])
    assert (await api.get(f"/projects/{own_other_project.project_id}/holds")).body["items"] == []
    tenant = await new_ledger(other_api)
    theirs = await other_api.get(f"/projects/{tenant.project_id}/holds/{hold_id}")
    assert (theirs.status, theirs.body["error"]["code"]) == (404, "HoldNotFound")
    foreign = await other_api.get(f"/projects/{project}/holds/{hold_id}")
    assert (foreign.status, foreign.body["error"]["code"]) == (404, "ProjectNotFound")
    bad_id = await api.get(f"/projects/{project}/holds/a.b")
    assert (bad_id.status, bad_id.body["error"]["code"]) == (400, "ValidationError")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=Open", "status"),
        ("status=pending", "status"),
        ("status=", "status"),
        ("walletId=", "walletId"),
        ("walletId=a.b", "walletId"),
        ("walletId=" + "w" * 65, "walletId"),
        ("wallet=w1", "wallet"),
        ("limit=10", "limit"),
        ("status=Pending&status=Voided", "status"),
        ("order=newest", "order"),
        ("pageSize=0", "pageSize"),
        ("pageSize=501", "pageSize"),
        ("page=0", "page"),
        ("from=-1", "from"),
        ("cursor=dC4xLjE", "cursor"),
        ("cursor=%21", "cursor"),
        ("page=2&cursor=aC4xLmE", "cursor"),
    ],
)
async def test_bad_holds_list_queries_are_400_naming_the_parameter(
    ledger: Ledger, query: str, field: str
) -> None:
    reply = await ledger.api.get(f"/projects/{ledger.project_id}/holds?{query}")
    assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), reply.body
    assert field in [item["field"] for item in reply.body["error"]["details"]["fields"]]


async def test_a_wallet_with_a_pending_hold_does_not_close(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    _, wallet, _ = await funded(ledger, 20)
    hold_id = await make_hold(api, project, hold(wallet, 20))
    status_path = f"/projects/{project}/wallets/{wallet}/status"
    refused = await api.put(status_path, {"status": "Closed"})
    assert (refused.status, refused.body["error"]["code"]) == (409, "WalletNotEmpty")
    assert "hold" in refused.body["error"]["message"]
    assert refused.body["error"]["details"] == {
        "status": "Open",
        "balance": "20",
        "heldBalance": "20",
    }
    assert (await get_wallet(api, project, wallet))["status"] == "Open"
    await completed(api, project, [capture(hold_id)])
    assert balances(await get_wallet(api, project, wallet)) == ("0", "0", "0")
    closed = await api.put(status_path, {"status": "Closed"})
    assert (closed.status, closed.body["status"]) == (200, "Closed")


BAD_OPERATIONS: list[tuple[dict[str, object], str]] = [
    ({"type": "Capture"}, "operations[0].holdId"),
    ({"type": "Capture", "amount": "5"}, "operations[0].holdId"),
    ({"type": "Void"}, "operations[0].holdId"),
    ({"type": "Capture", "holdId": ""}, "operations[0].holdId"),
    ({"type": "Void", "holdId": "a.b"}, "operations[0].holdId"),
    (hold("w1", 5) | {"timeoutS": 0}, "operations[0].timeoutS"),
    (hold("w1", 5) | {"timeoutS": 31_536_001}, "operations[0].timeoutS"),
    (hold("w1", 5) | {"timeoutS": -1}, "operations[0].timeoutS"),
    (hold("w1", 5) | {"timeoutS": "60"}, "operations[0].timeoutS"),
    (hold("w1", 5) | {"timeoutS": True}, "operations[0].timeoutS"),
    (hold("w1", 5) | {"amount": "0"}, "operations[0].amount"),
    (hold("w1", 5) | {"amount": -5}, "operations[0].amount"),
    (hold("w1", 5) | {"amount": "1.5"}, "operations[0].amount"),
    (hold("w1", 5) | {"amount": str(2**127)}, "operations[0].amount"),
    (capture("h-0") | {"amount": "0"}, "operations[0].amount"),
    (capture("h-0") | {"amount": True}, "operations[0].amount"),
    ({"type": "Hold", "amount": "5"}, "operations[0].from"),
    (hold("w1", 5) | {"holdId": "h-0"}, "operations[0].holdId"),
    (void("h-0") | {"amount": "5"}, "operations[0].amount"),
    ({"type": "Expire", "holdId": "h-0"}, "operations[0]"),
]


async def assert_nothing_stored(settings: Settings, project: str, reference_id: str) -> None:
    for table in ("transactions", "holds"):
        rows = await fetch_rows(
            settings, f"SELECT count(*) AS stored FROM {table} WHERE project_id = $1", project
        )
        assert rows[0]["stored"] == 0, table
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        assert await client.exists(reference_key(project, reference_id)) == 0
    finally:
        await client.aclose()


@pytest.mark.parametrize(("operation", "field"), BAD_OPERATIONS)
async def test_bad_operations_on_holds_are_400_and_store_nothing(
    ledger: Ledger, migrated: Settings, operation: dict[str, object], field: str
) -> None:
    body = {"referenceId": "bad-hold", "operations": [operation]}
    reply = await ledger.api.post(f"/projects/{ledger.project_id}/transactions", body)
    assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), reply.body
    assert field in [item["field"] for item in reply.body["error"]["details"]["fields"]]
    batch = await ledger.api.post(
        f"/projects/{ledger.project_id}/transactions/batch", {"transactions": [body]}
    )
    assert batch.status == 202, batch.body
    (item,) = batch.body["items"]
    assert (item["status"], item["body"]["error"]["code"]) == (400, "ValidationError")
    assert field in [entry["field"] for entry in item["body"]["error"]["details"]["fields"]]
    await assert_nothing_stored(migrated, ledger.project_id, "bad-hold")


@pytest.mark.parametrize("raw_timeout", [b"60.0", b"6e1", b"1.5"])
async def test_a_fractional_timeout_is_400(
    ledger: Ledger, migrated: Settings, raw_timeout: bytes
) -> None:
    raw = (
        b'{"referenceId": "bad-hold", "operations": [{"type": "Hold", "from": "w1",'
        b' "amount": "5", "timeoutS": ' + raw_timeout + b"}]}"
    )
    reply = await ledger.api.call(
        "POST",
        f"/projects/{ledger.project_id}/transactions",
        raw=raw,
        headers={"Content-Type": "application/json"},
    )
    assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError")
    await assert_nothing_stored(migrated, ledger.project_id, "bad-hold")


@pytest.mark.parametrize(
    "reference_id", ["cloudwallet:expire:h-0", "cloudwallet:", "cloudwallet:x"]
)
async def test_reserved_reference_ids_are_refused(
    ledger: Ledger, migrated: Settings, reference_id: str
) -> None:
    body = {"referenceId": reference_id, "operations": [issue("w1", 1)]}
    reply = await ledger.api.post(f"/projects/{ledger.project_id}/transactions", body)
    assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError")
    assert [item["field"] for item in reply.body["error"]["details"]["fields"]] == ["referenceId"]
    await assert_nothing_stored(migrated, ledger.project_id, reference_id)


async def failure_of(api: Api, project: str, operations: list[dict[str, object]]) -> Any:
    done = await api.run(project, operations)
    assert done["status"] == "Failed", done
    # A Hold of a failed transaction made no hold, and shows no holdId.
    assert all(op["type"] != "Hold" or "holdId" not in op for op in done["operations"])
    return (done["failure"]["operationIndex"], done["failure"]["code"])


async def test_failures_of_operations_on_holds_and_all_or_nothing(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, wallet, _ = await funded(ledger, 10)
    hold_id = await make_hold(api, project, hold(wallet, 6, treasury))
    assert await failure_of(api, project, [hold(wallet, 5)]) == (0, "InsufficientFunds")
    assert await failure_of(api, project, [hold(wallet, 4), issue(new_id(), 1)]) == (
        1,
        "WalletNotFound",
    )
    assert balances(await get_wallet(api, project, wallet)) == ("10", "6", "4")
    other_project = await new_ledger(api)
    assert await failure_of(api, other_project.project_id, [void(hold_id)]) == (
        0,
        "HoldNotFound",
    )
    assert await failure_of(api, project, [capture(hold_id, 7)]) == (0, "CaptureExceedsHold")
    await completed(api, project, [void(hold_id)])
    assert await failure_of(api, project, [capture(hold_id)]) == (0, "HoldNotPending")
    assert ids(await holds_listed(ledger)) == [hold_id]


async def test_an_expired_hold_is_released_by_the_service(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    _, wallet, _ = await funded(ledger, 10)
    made = await completed(api, project, [hold(wallet, 4, timeout_s=1)])
    hold_id = made["operations"][0]["holdId"]
    expires_at = moment((await get_hold(api, project, hold_id))["expiresAt"])
    assert expires_at == moment(made["completedAt"]) + timedelta(seconds=1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    shown = await get_hold(api, project, hold_id)
    while shown["status"] == "Pending" and loop.time() < deadline:
        await asyncio.sleep(0.2)
        shown = await get_hold(api, project, hold_id)
    assert shown["status"] == "Expired", shown
    resolved_at = moment(shown["resolvedAt"])
    assert expires_at <= resolved_at <= expires_at + timedelta(seconds=10)
    assert balances(await get_wallet(api, project, wallet)) == ("10", "0", "10")
    expiry = await api.get(f"/projects/{project}/transactions/{shown['resolvedByTransactionId']}")
    assert (expiry.status, expiry.body["status"]) == (200, "Completed")
    assert expiry.body["referenceId"] == f"cloudwallet:expire:{hold_id}"
    assert expiry.body["operations"] == [{"type": "Expire", "holdId": hold_id}]
    listed = (await api.get(f"/projects/{project}/transactions")).body["items"]
    assert listed[0] == expiry.body
    assert await failure_of(api, project, [capture(hold_id)]) == (0, "HoldExpired")
