"""Search through HTTP on the real services: every list route (found in the route table) refuses
an unknown query parameter and a bad value with a 400 naming it; the filters of the transaction,
wallet and customer lists each alone and combined with the others, the time window and the
cursor; metadata on wallets and customers given at creation, replaced whole, shown on every
read and refused over its limits with nothing stored."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from gateway import responses
from gateway.openapi.endpoint import Route
from gateway.routes import ROUTES
from shared.settings import Settings
from tests.integration.test_errors import JSON, fill, is_validation_error
from tests.support import Api, Ledger, fetch_rows, issue, new_ledger, transfer

# Every list route: a GET answering a page. Found in the table, so a new list cannot be left out.
LIST_ROUTES = [
    route
    for route in ROUTES
    if route.method == "GET"
    and route.endpoint.response is not None
    and issubclass(route.endpoint.response, responses.Page)
]


def ids(page: Any) -> list[str]:
    return [item["id"] for item in page.body["items"]]


def epoch_ms(text: str) -> int:
    """A time as responses show it, in epoch milliseconds (exact: no float on the way)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_the_list_routes_are_found_in_the_table() -> None:
    operations = {route.endpoint.operation_id for route in LIST_ROUTES}
    assert operations >= {
        "listProjects",
        "listAssets",
        "listCustomers",
        "listCustomerWallets",
        "listWallets",
        "listSystemWallets",
        "listEntries",
        "listTransactions",
        "listHolds",
    }


@pytest.mark.parametrize("route", LIST_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_every_list_refuses_unknown_parameters_and_bad_values(
    ledger: Ledger, route: Route
) -> None:
    assert route.endpoint.query is not None
    assert route.endpoint.query.model_config.get("extra") == "forbid"
    path = fill(route, ledger, customerId="someone")
    await ledger.api.post(f"/projects/{ledger.project_id}/customers", {"id": "someone"})
    properties = route.endpoint.query.model_json_schema(by_alias=True)["properties"]
    queries = {"unknown=1": "unknown", "walletid=x": "walletid", "page=x": "page"}
    queries["metadata=x"] = "metadata"
    if "metadata" in properties:
        queries["metadata%5Bbad%20key%5D=x"] = "metadata[bad key]"
        queries["metadata%5Bk%5D=" + "x" * 513] = "metadata[k]"
    else:
        queries["metadata%5Btier%5D=gold"] = "metadata"
    if "status" in properties:
        queries["status=Nope"] = "status"
    if "from" in properties:
        queries["from=yesterday"] = "from"
    for query, field in queries.items():
        reply = await ledger.api.call("GET", f"{path}?{query}")
        assert is_validation_error(reply, field), (query, reply.body)


async def test_transaction_filters_alone_and_combined(ledger: Ledger, migrated: Settings) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, alice, bob = (
        await ledger.system_wallet(),
        await ledger.customer_wallet(),
        await ledger.customer_wallet(),
    )
    base = f"/projects/{project}/transactions"
    funded = await api.run(project, [issue(alice, 100)], "funded")
    paid = await api.run(project, [transfer(alice, bob, 30)], "paid")
    other = await api.run(project, [issue(treasury, 5)], "other")
    failed = await api.run(project, [transfer(bob, alice, 1000)], "failed")
    assert [t["status"] for t in (funded, paid, other, failed)] == ["Completed"] * 3 + ["Failed"]

    assert ids(await api.get(f"{base}?walletId={alice}")) == [paid["id"], funded["id"]]
    assert ids(await api.get(f"{base}?walletId={bob}")) == [paid["id"]]
    assert ids(await api.get(f"{base}?walletId={treasury}&order=asc")) == [other["id"]]
    assert ids(await api.get(f"{base}?walletId=01NOSUCHWALLET000000000000")) == []
    assert ids(await api.get(f"{base}?referenceId=other")) == [other["id"]]
    assert ids(await api.get(f"{base}?referenceId=nothing")) == []
    assert ids(await api.get(f"{base}?status=Failed")) == [failed["id"]]
    assert ids(await api.get(f"{base}?status=Completed")) == [other["id"], paid["id"], funded["id"]]
    assert ids(await api.get(f"{base}?status=Pending")) == []
    combined = f"{base}?walletId={alice}&status=Completed&referenceId=paid"
    assert ids(await api.get(combined)) == [paid["id"]]
    assert ids(await api.get(f"{base}?walletId={bob}&referenceId=funded")) == []
    assert ids(await api.get(f"{base}?status=Failed&referenceId=paid")) == []
    # The time window and the cursor, with a filter.
    start = epoch_ms(paid["createdAt"])
    windowed = f"{base}?walletId={alice}&from={start}&to={epoch_ms(failed['createdAt'])}"
    assert ids(await api.get(windowed)) == [paid["id"]]
    assert ids(await api.get(f"{base}?walletId={alice}&to={start}")) == [funded["id"]]
    first = await api.get(f"{base}?walletId={alice}&pageSize=1")
    assert (ids(first), first.body["hasMore"]) == ([paid["id"]], True)
    cursor = first.body["nextCursor"]
    second = await api.get(f"{base}?walletId={alice}&pageSize=1&cursor={cursor}")
    assert (ids(second), second.body["hasMore"]) == ([funded["id"]], False)
    paged = await api.get(f"{base}?status=Completed&pageSize=2&page=2")
    assert ids(paged) == [funded["id"]]
    # Another project's wallet lists nothing here.
    elsewhere = await new_ledger(api)
    assert (
        ids(await api.get(f"/projects/{elsewhere.project_id}/transactions?walletId={alice}")) == []
    )


async def test_transaction_metadata_filters(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet, other_wallet = await ledger.customer_wallet(), await ledger.customer_wallet()
    base = f"/projects/{project}/transactions"

    async def run(to: str, metadata: dict[str, str] | None) -> str:
        body: dict[str, Any] = {"referenceId": f"m-{len(done)}", "operations": [issue(to, 1)]}
        if metadata is not None:
            body["metadata"] = metadata
        accepted = await api.post(base, body)
        assert accepted.status == 202, accepted.body
        final = await api.final(project, accepted.body["id"])
        assert final["status"] == "Completed"
        done.append(final["id"])
        return str(final["id"])

    done: list[str] = []
    first = await run(wallet, {"order": "1", "channel": "web"})
    second = await run(other_wallet, {"order": "2", "channel": "web"})
    await run(wallet, None)
    third = await run(wallet, {"order": "3", "channel": "shop", "note": ""})
    web = await api.get(f"{base}?metadata[channel]=web")
    assert ids(web) == [second, first]
    assert ids(await api.get(f"{base}?metadata[channel]=web&metadata[order]=1")) == [first]
    assert ids(await api.get(f"{base}?metadata[channel]=web&metadata[order]=3")) == []
    assert ids(await api.get(f"{base}?metadata[channel]=web&walletId={wallet}")) == [first]
    assert ids(await api.get(f"{base}?metadata[note]=")) == [third]
    assert ids(await api.get(f"{base}?metadata[channel]=Web")) == []
    with_status = await api.get(f"{base}?metadata[channel]=shop&status=Completed&order=asc")
    assert ids(with_status) == [third]
    repeated = await api.get(f"{base}?metadata[channel]=web&metadata[channel]=shop")
    assert is_validation_error(repeated, "metadata[channel]")
    too_long = await api.get(f"{base}?metadata[channel]={'x' * 513}")
    assert is_validation_error(too_long, "metadata[channel]")


async def test_wallet_list_filters_alone_and_combined(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    base = f"/projects/{project}"
    euro = await api.created(f"{base}/assets", {"name": "Euro", "code": "EUR", "fractions": 100})
    for customer in ("ann", "ben"):
        await api.post(f"{base}/customers", {"id": customer})

    async def wallet(body: dict[str, Any], path: str = "/wallets") -> str:
        return str((await api.created(base + path, body))["id"])

    ann_points = await wallet(
        {"customerId": "ann", "assetId": ledger.asset_id, "metadata": {"tier": "gold"}}
    )
    ann_euro = await wallet({"customerId": "ann", "assetId": euro["id"]})
    ben_points = await wallet(
        {"customerId": "ben", "assetId": ledger.asset_id, "metadata": {"tier": "gold", "x": "1"}}
    )
    treasury = await wallet(
        {"assetId": ledger.asset_id, "metadata": {"tier": "gold"}}, "/system-wallets"
    )
    suspended = await api.put(f"{base}/wallets/{ann_euro}/status", {"status": "Suspended"})
    assert suspended.status == 200
    everything = sorted([ann_points, ann_euro, ben_points, treasury])
    lists = f"{base}/wallets"
    assert ids(await api.get(lists)) == everything
    assert ids(await api.get(f"{lists}?assetId={euro['id']}")) == [ann_euro]
    assert ids(await api.get(f"{lists}?customerId=ann")) == sorted([ann_points, ann_euro])
    assert ids(await api.get(f"{lists}?type=system")) == [treasury]
    customer_wallets = sorted([ann_points, ann_euro, ben_points])
    assert ids(await api.get(f"{lists}?type=customer")) == customer_wallets
    assert ids(await api.get(f"{lists}?status=Suspended")) == [ann_euro]
    assert ids(await api.get(f"{lists}?status=Closed")) == []
    gold = sorted([ann_points, ben_points, treasury])
    assert ids(await api.get(f"{lists}?metadata[tier]=gold")) == gold
    assert ids(await api.get(f"{lists}?metadata[tier]=gold&metadata[x]=1")) == [ben_points]
    combined = f"{lists}?assetId={ledger.asset_id}&type=customer&status=Open&metadata[tier]=gold"
    assert ids(await api.get(combined)) == sorted([ann_points, ben_points])
    assert ids(await api.get(f"{combined}&customerId=ben")) == [ben_points]
    assert ids(await api.get(f"{lists}?customerId=ann&status=Open&assetId={euro['id']}")) == []
    assert ids(await api.get(f"{lists}?customerId=nobody")) == []
    paged = await api.get(f"{lists}?type=customer&pageSize=2&page=2")
    assert (ids(paged), paged.body["hasMore"]) == (customer_wallets[2:], False)
    first = await api.get(f"{lists}?type=customer&pageSize=2")
    assert (ids(first), first.body["hasMore"]) == (customer_wallets[:2], True)
    after = f"{lists}?type=customer&pageSize=2&cursor={first.body['nextCursor']}"
    rest = await api.get(after)
    assert (ids(rest), rest.body["hasMore"], rest.body["nextCursor"]) == (
        customer_wallets[2:],
        False,
        None,
    )
    both = await api.get(f"{lists}?cursor={first.body['nextCursor']}&page=2")
    assert is_validation_error(both, "cursor")
    transaction_cursor = "dC4xLjAx"  # "t.1.01": a cursor of another list
    assert is_validation_error(await api.get(f"{lists}?cursor={transaction_cursor}"), "cursor")
    created = [await api.get(f"{base}/wallets/{w}") for w in everything]
    moments = sorted(epoch_ms(reply.body["createdAt"]) for reply in created)
    windowed = await api.get(f"{lists}?from={moments[-1]}&metadata[tier]=gold")
    assert ids(windowed) == [w for w in gold if epoch_ms(_created(created, w)) >= moments[-1]]
    assert ids(await api.get(f"{lists}?to={moments[0]}")) == []
    # The list shows what a read of each wallet shows, metadata included.
    assert (await api.get(lists)).body["items"] == [reply.body for reply in created]
    for bad, field in (
        ("type=user", "type"),
        ("status=Active", "status"),
        ("assetId=a%20b", "assetId"),
        ("customerId=%00", "customerId"),
        ("to=-1", "to"),
        ("cursor=abc", "cursor"),
        ("cursor=a.b", "cursor"),
    ):
        assert is_validation_error(await api.get(f"{lists}?{bad}"), field), bad


def _created(replies: list[Any], wallet_id: str) -> str:
    return str(next(reply.body["createdAt"] for reply in replies if reply.body["id"] == wallet_id))


async def test_customer_list_filters_alone_and_combined(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/customers"
    await api.post(base, {"id": "a", "metadata": {"segment": "vip", "region": "eu"}})
    await api.post(base, {"id": "b", "metadata": {"segment": "vip"}})
    # c in a later millisecond than b, so that `from` at c's time leaves b out (times are
    # shown to the millisecond; in one CI run the two were made in the same one)
    await asyncio.sleep(0.002)
    await api.post(base, {"id": "c"})
    assert (await api.put(f"{base}/b/suspend")).status == 200
    assert ids(await api.get(base)) == ["a", "b", "c"]
    assert ids(await api.get(f"{base}?status=Suspended")) == ["b"]
    assert ids(await api.get(f"{base}?status=Active")) == ["a", "c"]
    assert ids(await api.get(f"{base}?metadata[segment]=vip")) == ["a", "b"]
    assert ids(await api.get(f"{base}?metadata[segment]=vip&metadata[region]=eu")) == ["a"]
    assert ids(await api.get(f"{base}?metadata[segment]=vip&status=Active")) == ["a"]
    assert ids(await api.get(f"{base}?metadata[segment]=vip&status=Suspended&pageSize=1")) == ["b"]
    c = await api.get(f"{base}/c")
    assert ids(await api.get(f"{base}?from={epoch_ms(c.body['createdAt'])}")) == ["c"]
    assert ids(await api.get(f"{base}?to={epoch_ms(c.body['createdAt'])}&status=Active")) in (
        ["a"],
        ["a", "c"],  # created within the same millisecond
    )
    assert (await api.delete(f"{base}/a")).status == 204
    assert ids(await api.get(f"{base}?metadata[region]=eu")) == []
    for bad, field in (("status=Open", "status"), ("metadata[a b]=1", "metadata[a b]")):
        assert is_validation_error(await api.get(f"{base}?{quote(bad, safe='=')}"), field), bad


async def test_metadata_round_trips_on_wallets_and_customers(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    customer = await api.created(f"{base}/customers", {"id": "meta", "metadata": {"crm": "1"}})
    assert customer["metadata"] == {"crm": "1"}
    renamed = await api.post(f"{base}/customers", {"id": "meta", "name": "Meta"})
    assert (renamed.status, renamed.body["metadata"]) == (200, {"crm": "1"})
    replaced = await api.put(f"{base}/customers/meta/metadata", {"metadata": {"crm": "2"}})
    assert (replaced.status, replaced.body["metadata"], replaced.body["name"]) == (
        200,
        {"crm": "2"},
        "Meta",
    )
    assert (await api.get(f"{base}/customers/meta")).body == replaced.body
    put = await api.put(f"{base}/customers/meta", {"metadata": {"a.b-c_D9": ""}})
    assert put.body["metadata"] == {"a.b-c_D9": ""}
    wallet = await api.created(
        f"{base}/wallets", {"customerId": "meta", "assetId": ledger.asset_id}
    )
    assert wallet["metadata"] == {}
    full = {f"k{index}": "v" * 200 for index in range(32)}
    replaced = await api.put(f"{base}/wallets/{wallet['id']}/metadata", {"metadata": full})
    assert (replaced.status, replaced.body["metadata"]) == (200, full)
    assert (await api.get(f"{base}/wallets/{wallet['id']}")).body == replaced.body
    listed = await api.get(f"{base}/customers/meta/wallets")
    assert listed.body["items"] == [replaced.body]
    cleared = await api.put(f"{base}/wallets/{wallet['id']}/metadata", {"metadata": {}})
    assert cleared.body["metadata"] == {}
    missing = await api.put(f"{base}/wallets/01NOSUCHWALLET000000000000/metadata", {"metadata": {}})
    assert (missing.status, missing.body["error"]["code"]) == (404, "WalletNotFound")
    gone = await api.put(f"{base}/customers/nobody/metadata", {"metadata": {}})
    assert (gone.status, gone.body["error"]["code"]) == (404, "CustomerNotFound")


BAD_METADATA = [
    {f"k{index}": "v" for index in range(33)},  # 33 keys
    {"bad key": "v"},
    {"k" * 65: "v"},
    {"": "v"},
    {"kéy": "v"},
    {"count": 5},
    {"flag": True},
    {"nested": {"a": "b"}},
    {"none": None},
    {"long": "v" * 513},
    {f"k{index}": "é" * 260 for index in range(32)},  # under 512 characters, over 8 KiB
    ["not", "an", "object"],
    "text",
]


async def test_bad_metadata_is_400_and_stores_nothing(ledger: Ledger, migrated: Settings) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    await api.post(f"{base}/customers", {"id": "owner"})
    wallet = await ledger.customer_wallet("owner")
    before = await fetch_rows(
        migrated,
        "SELECT id, metadata, updated_at FROM wallets WHERE project_id = $1 ORDER BY id",
        ledger.project_id,
    )
    customers_before = await fetch_rows(
        migrated, "SELECT * FROM customers WHERE project_id = $1 ORDER BY id", ledger.project_id
    )
    for metadata in BAD_METADATA:
        for method, path, body in (
            ("POST", f"{base}/customers", {"id": "new", "metadata": metadata}),
            ("PUT", f"{base}/customers/new", {"metadata": metadata}),
            ("PUT", f"{base}/customers/owner/metadata", {"metadata": metadata}),
            (
                "POST",
                f"{base}/wallets",
                {"customerId": "owner", "assetId": ledger.asset_id, "metadata": metadata},
            ),
            ("POST", f"{base}/system-wallets", {"assetId": ledger.asset_id, "metadata": metadata}),
            ("PUT", f"{base}/wallets/{wallet}/metadata", {"metadata": metadata}),
        ):
            reply = await api.call(method, path, body)
            assert reply.status == 400, (method, path, metadata, reply.body)
            assert reply.body["error"]["code"] == "ValidationError"
            fields = [item["field"] for item in reply.body["error"]["details"]["fields"]]
            assert all(field.startswith("metadata") for field in fields), fields
    assert (await api.put(f"{base}/wallets/{wallet}/metadata", {})).status == 400
    after = await fetch_rows(
        migrated,
        "SELECT id, metadata, updated_at FROM wallets WHERE project_id = $1 ORDER BY id",
        ledger.project_id,
    )
    customers_after = await fetch_rows(
        migrated, "SELECT * FROM customers WHERE project_id = $1 ORDER BY id", ledger.project_id
    )
    assert (after, customers_after) == (before, customers_before)


async def test_cloud_wallet_nits(ledger: Ledger, api: Api) -> None:
    base = f"/projects/{ledger.project_id}"
    # A customer id sent as a JSON number is its decimal string.
    numbered = await api.post(f"{base}/customers", {"id": 12345678901234567890})
    assert (numbered.status, numbered.body["id"]) == (201, "12345678901234567890")
    wallet = await api.created(
        f"{base}/wallets", {"customerId": 12345678901234567890, "assetId": ledger.asset_id}
    )
    assert wallet["customerId"] == "12345678901234567890"
    for bad in (True, None, [1], -1.0):
        reply = await api.post(f"{base}/customers", {"id": bad})
        field = "body" if isinstance(bad, float) else "id"  # no number with a fraction is JSON here
        assert is_validation_error(reply, field), (bad, reply.body)
    # Active is another word for Open.
    status = f"{base}/wallets/{wallet['id']}/status"
    assert (await api.put(status, {"status": "Suspended"})).body["status"] == "Suspended"
    assert (await api.put(status, {"status": "Active"})).body["status"] == "Open"
    assert (await api.put(status, {"status": "Active"})).body["status"] == "Open"
    assert is_validation_error(await api.put(status, {"status": "Enabled"}), "status")
    # An empty rename body changes nothing.
    project = await api.get(base)
    for raw in (b"", b"{}"):
        same = await api.call("PUT", f"{base}/name", raw=raw, headers=JSON)
        assert (same.status, same.body) == (200, project.body)
    renamed = await api.put(f"{base}/name", {"name": "renamed"})
    assert renamed.body["name"] == "renamed"
