"""Customers through HTTP: upsert by POST and PUT, list, soft delete once every wallet is
Closed (Closed wallets stay readable with their customerId), the customer's wallet list,
and ids that need percent-encoding in a path."""

from __future__ import annotations

from urllib.parse import quote

from shared.settings import Settings
from tests.support import Ledger, fetch_rows


async def test_put_upserts_201_then_200_and_keeps_what_is_not_sent(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/customers"
    created = await api.put(f"{base}/bob", {"name": "Bob"})
    assert created.status == 201
    assert (created.body["id"], created.body["name"], created.body["description"]) == (
        "bob",
        "Bob",
        "",
    )
    updated = await api.put(f"{base}/bob", {"description": "silver"})
    assert updated.status == 200
    assert (updated.body["name"], updated.body["description"]) == ("Bob", "silver")
    assert updated.body["createdAt"] == created.body["createdAt"]
    assert updated.body["updatedAt"] >= created.body["updatedAt"]
    # The body of a customer PUT is optional (the Cloud Wallet API marks it so): an empty one
    # creates the customer with nothing but its id, or changes nothing of an existing one.
    empty = await api.call("PUT", f"{base}/carol", raw=b"", headers={})
    assert (empty.status, empty.body["id"], empty.body["name"]) == (201, "carol", "")
    unchanged = await api.call("PUT", f"{base}/bob", raw=b"", headers={})
    assert (unchanged.status, unchanged.body["name"]) == (200, "Bob")
    assert unchanged.body["description"] == "silver"
    for body in ({"id": "bob"}, {"name": 5}, {"name": "x" * 201}, {"description": "\u0000"}):
        assert (await api.put(f"{base}/bob", body)).status == 400, body
    assert (await api.get(f"{base}/bob")).body == unchanged.body


async def test_list_customers_in_pages(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/customers"
    for customer_id in ("c", "a", "b"):
        await api.post(base, {"id": customer_id})
    first = await api.get(f"{base}?pageSize=2")
    assert [item["id"] for item in first.body["items"]] == ["a", "b"]
    assert (first.body["page"], first.body["pageSize"], first.body["hasMore"]) == (1, 2, True)
    second = await api.get(f"{base}?pageSize=2&page=2")
    assert [item["id"] for item in second.body["items"]] == ["c"]
    assert second.body["hasMore"] is False
    assert (await api.get(f"{base}?page=3&pageSize=2")).body["items"] == []
    for query in ("page=0", "pageSize=0", "pageSize=501", "page=a", "page=1&page=2"):
        reply = await api.get(f"{base}?{query}")
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), query


async def test_delete_needs_every_wallet_closed_and_closed_wallets_stay(
    ledger: Ledger, migrated: Settings
) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    first = await ledger.customer_wallet("dora")
    second = await api.created(
        f"{base}/wallets", {"customerId": "dora", "assetId": ledger.asset_id}
    )
    await api.put(f"{base}/wallets/{first}/status", {"status": "Closed"})
    refused = await api.delete(f"{base}/customers/dora")
    assert refused.status == 409
    assert refused.body["error"]["code"] == "CustomerHasActiveWallets"
    assert refused.body["error"]["details"] == {"activeWalletCount": 1}
    await api.put(f"{base}/wallets/{second['id']}/status", {"status": "Suspended"})
    assert (await api.delete(f"{base}/customers/dora")).status == 409
    await api.put(f"{base}/wallets/{second['id']}/status", {"status": "Closed"})
    deleted = await api.delete(f"{base}/customers/dora")
    assert deleted.status == 204
    for method, path in (
        ("GET", f"{base}/customers/dora"),
        ("DELETE", f"{base}/customers/dora"),
        ("GET", f"{base}/customers/dora/wallets"),
        ("PUT", f"{base}/customers/dora/suspend"),
        ("PUT", f"{base}/customers/dora/resume"),
    ):
        gone = await api.call(method, path)
        assert (gone.status, gone.body["error"]["code"]) == (404, "CustomerNotFound"), path
    kept = await api.get(f"{base}/wallets/{first}")
    assert (kept.status, kept.body["customerId"], kept.body["status"]) == (200, "dora", "Closed")
    assert [item["id"] for item in (await api.get(f"{base}/customers")).body["items"]] == []
    no_wallet = await api.post(f"{base}/wallets", {"customerId": "dora", "assetId": "x"})
    assert (no_wallet.status, no_wallet.body["error"]["code"]) == (404, "CustomerNotFound")
    rows = await fetch_rows(
        migrated, "SELECT deleted_at FROM customers WHERE project_id = $1", ledger.project_id
    )
    assert len(rows) == 1 and rows[0]["deleted_at"] is not None


async def test_a_deleted_customers_id_makes_a_new_customer(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/customers"
    first = await api.post(base, {"id": "eve", "name": "Eve", "description": "old"})
    await api.put(f"{base}/eve/suspend")
    assert (await api.delete(f"{base}/eve")).status == 204
    again = await api.post(base, {"id": "eve", "name": "Eve"})
    assert again.status == 201
    assert (again.body["status"], again.body["description"]) == ("Active", "")
    assert again.body["createdAt"] >= first.body["createdAt"]
    assert (await api.put(f"{base}/eve", {"name": "Eve II"})).status == 200


async def test_customer_wallets_list(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    wallets = sorted([await ledger.customer_wallet("finn") for _ in range(3)])
    await ledger.customer_wallet("gina")
    await ledger.system_wallet()
    listed = await api.get(f"{base}/customers/finn/wallets?pageSize=2")
    assert [item["id"] for item in listed.body["items"]] == wallets[:2]
    assert listed.body["hasMore"] is True
    rest = await api.get(f"{base}/customers/finn/wallets?pageSize=2&page=2")
    assert [item["id"] for item in rest.body["items"]] == wallets[2:]
    assert all(item["customerId"] == "finn" for item in rest.body["items"])
    missing = await api.get(f"{base}/customers/nobody/wallets")
    assert (missing.status, missing.body["error"]["code"]) == (404, "CustomerNotFound")


async def test_ids_that_need_encoding_in_the_path(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/customers"
    for customer_id in ("a/b", "50%", "with space", "x?y#z", "émile", "a+b", "...", "_"):
        created = await api.post(base, {"id": customer_id})
        assert created.status == 201, customer_id
        path = f"{base}/{quote(customer_id, safe='')}"
        assert (await api.get(path)).body["id"] == customer_id
        assert (await api.get(path + "/wallets")).status == 200
        assert (await api.put(path, {"name": "n"})).status == 200


async def test_ids_that_cannot_be_addressed_or_stored_are_400(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}/customers"
    for customer_id in (".", "..", "", "x" * 129, "a\u0000b", "tab\there"):
        reply = await api.post(base, {"id": customer_id})
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError")
    lone_surrogate = await api.call(
        "POST", base, raw=b'{"id": "\\ud800"}', headers={"Content-Type": "application/json"}
    )
    assert lone_surrogate.status == 400
    for raw_id in ("%00", "a%0Ab", "x" * 129, "%7F"):
        for method in ("GET", "PUT", "DELETE"):
            reply = await api.call(method, f"{base}/{raw_id}")
            assert reply.status == 400, (method, raw_id)
            assert reply.body["error"]["details"]["fields"][0]["field"] == "customerId"
    assert (await api.get(base)).body["items"] == []
