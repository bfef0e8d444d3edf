"""Projects, assets, customers and wallets as the foundation serves them: created, read,
renamed, and refused with clear codes when the input or the state is wrong."""

from __future__ import annotations

from tests.support import Api, Ledger


async def test_project_create_list_get_rename(api: Api) -> None:
    project = await api.created("/projects", {"name": "Loyalty"})
    assert project["name"] == "Loyalty" and project["assets"] == []
    assert (await api.get(f"/projects/{project['id']}")).body == project
    renamed = await api.put(f"/projects/{project['id']}/name", {"name": "Rewards"})
    assert renamed.status == 200 and renamed.body["name"] == "Rewards"
    listed = await api.get("/projects?page=1&pageSize=10")
    assert listed.body == {"items": [renamed.body], "page": 1, "pageSize": 10, "hasMore": False}


async def test_project_bad_input(api: Api) -> None:
    for body in ({}, {"name": ""}, {"name": "x" * 201}, {"name": 5}, {"name": "a", "b": 1}):
        reply = await api.post("/projects", body)
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), body
    for query in ("page=0", "pageSize=501", "page=x", "pageSize=-1"):
        reply = await api.get(f"/projects?{query}")
        assert reply.status == 400, query


async def test_listing_pages(api: Api) -> None:
    ids = [(await api.created("/projects", {"name": f"p{index}"}))["id"] for index in range(3)]
    first = await api.get("/projects?pageSize=2")
    second = await api.get("/projects?pageSize=2&page=2")
    assert [item["id"] for item in first.body["items"]] == sorted(ids)[:2]
    assert first.body["hasMore"] is True
    assert [item["id"] for item in second.body["items"]] == sorted(ids)[2:]
    assert second.body["hasMore"] is False


async def test_assets(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    asset = (await api.get(f"/projects/{project}/assets/{ledger.asset_id}")).body
    assert asset["code"] == "PTS" and asset["fractions"] == 100
    assert (await api.get(f"/projects/{project}/currencies/{ledger.asset_id}")).body == asset
    taken = await api.post(
        f"/projects/{project}/assets", {"name": "Other", "code": "PTS", "fractions": 1}
    )
    assert (taken.status, taken.body["error"]["code"]) == (409, "AssetCodeTaken")
    for body in (
        {"name": "a", "code": "", "fractions": 1},
        {"name": "a", "code": "X" * 17, "fractions": 1},
        {"name": "a", "code": "X", "fractions": 0},
        {"name": "a", "code": "X", "fractions": "100"},
    ):
        assert (await api.post(f"/projects/{project}/assets", body)).status == 400, body
    listed = await api.get(f"/projects/{project}/assets")
    assert [item["id"] for item in listed.body["items"]] == [ledger.asset_id]
    assert (await api.get(f"/projects/{project}")).body["assets"] == [asset]
    missing = await api.get(f"/projects/{project}/assets/nope")
    assert (missing.status, missing.body["error"]["code"]) == (404, "AssetNotFound")


async def test_customer_upsert_is_201_then_200(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    created = await api.post(f"/projects/{project}/customers", {"id": "alice", "name": "Alice"})
    assert created.status == 201 and created.body["status"] == "Active"
    updated = await api.post(
        f"/projects/{project}/customers", {"id": "alice", "description": "gold"}
    )
    assert updated.status == 200
    assert (updated.body["name"], updated.body["description"]) == ("Alice", "gold")
    assert (await api.get(f"/projects/{project}/customers/alice")).body == updated.body
    missing = await api.get(f"/projects/{project}/customers/bob")
    assert (missing.status, missing.body["error"]["code"]) == (404, "CustomerNotFound")
    bad = await api.post(f"/projects/{project}/customers", {"id": "a\u0000b"})
    assert bad.status == 400


async def test_wallets(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    await api.post(f"/projects/{project}/customers", {"id": "carol"})
    wallet = await api.created(
        f"/projects/{project}/wallets",
        {"customerId": "carol", "assetId": ledger.asset_id, "name": "main"},
    )
    assert wallet | {"id": "", "createdAt": "", "updatedAt": ""} == {
        "id": "",
        "projectId": project,
        "assetId": ledger.asset_id,
        "customerId": "carol",
        "type": "customer",
        "name": "main",
        "description": "",
        "status": "Open",
        "balance": "0",
        "heldBalance": "0",
        "availableBalance": "0",
        "metadata": {},
        "createdAt": "",
        "updatedAt": "",
    }
    assert (await api.get(f"/projects/{project}/wallets/{wallet['id']}")).body == wallet
    system = await api.created(f"/projects/{project}/system-wallets", {"assetId": ledger.asset_id})
    assert (system["type"], system["customerId"]) == ("system", None)
    listed = await api.get(f"/projects/{project}/system-wallets")
    assert [item["id"] for item in listed.body["items"]] == [system["id"]]
    no_customer = await api.post(
        f"/projects/{project}/wallets", {"customerId": "nobody", "assetId": ledger.asset_id}
    )
    assert (no_customer.status, no_customer.body["error"]["code"]) == (404, "CustomerNotFound")
    no_asset = await api.post(f"/projects/{project}/system-wallets", {"assetId": "nope"})
    assert (no_asset.status, no_asset.body["error"]["code"]) == (404, "AssetNotFound")
    missing = await api.get(f"/projects/{project}/wallets/nope")
    assert (missing.status, missing.body["error"]["code"]) == (404, "WalletNotFound")
