"""The tenant-isolation matrix: every route of the table is called with ids of the caller's
project, of another tenant's project, and with ids that exist nowhere. The caller's ids work;
the other two answer the same 404 (byte for byte, but for the id they name) and change
nothing; ids of another tenant inside the caller's own project look missing as well."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.openapi.endpoint import Route
from gateway.routes import ROUTES
from shared.ids import new_id
from shared.settings import Settings
from tests.support import Api, Reply, fetch_rows, issue, new_ledger

MISSING = "01MISSING00000000000000000"
MISSING_CUSTOMER = f"customer-{MISSING}"
SUB_IDS = ("assetId", "customerId", "walletId", "transactionId", "holdId", "webhookId")
# An endpoint that receives nothing: the transactions of make_ids all complete.
WEBHOOK = {"url": "http://127.0.0.1:9/hook", "events": ["transaction.failed"]}
TENANT_ROUTES = [route for route in ROUTES if "projectId" in route.path_parameters()]


@dataclass(frozen=True)
class Ids:
    projectId: str
    assetId: str
    customerId: str
    walletId: str
    transactionId: str
    holdId: str
    webhookId: str


async def make_ids(api: Api) -> Ids:
    ledger = await new_ledger(api)
    customer_id = f"customer-{new_id()}"
    wallet = await ledger.customer_wallet(customer_id)
    hold = {"type": "Hold", "from": wallet, "amount": "1"}
    accepted = await api.submit(ledger.project_id, [issue(wallet, 2), hold])
    done = await api.final(ledger.project_id, accepted["id"])
    hold_id = done["operations"][1]["holdId"]
    webhook = await api.created(f"/projects/{ledger.project_id}/webhooks", WEBHOOK)
    return Ids(
        ledger.project_id,
        ledger.asset_id,
        customer_id,
        wallet,
        accepted["id"],
        hold_id,
        webhook["id"],
    )


def path_of(route: Route, ids: Ids) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: str(getattr(ids, match.group(1))), route.path)


BODIES: dict[str, Callable[[Ids], Any]] = {
    "renameProject": lambda ids: {"name": "renamed"},
    "createAsset": lambda ids: {"name": "Euro", "code": "EUR", "fractions": 100},
    "renameAsset": lambda ids: {"name": "renamed"},
    "renameCurrency": lambda ids: {"name": "renamed"},
    "upsertCustomer": lambda ids: {"id": ids.customerId, "name": "renamed"},
    "putCustomer": lambda ids: {"name": "renamed"},
    "resumeCustomer": lambda ids: {"walletIds": [ids.walletId]},
    "openWallet": lambda ids: {"customerId": ids.customerId, "assetId": ids.assetId},
    "openSystemWallet": lambda ids: {"assetId": ids.assetId},
    "renameWallet": lambda ids: {"name": "renamed"},
    "describeWallet": lambda ids: {"description": "described"},
    "changeWalletStatus": lambda ids: {"status": "Suspended"},
    "replaceWalletMetadata": lambda ids: {"metadata": {"tier": "gold"}},
    "replaceCustomerMetadata": lambda ids: {"metadata": {"tier": "gold"}},
    "submitTransaction": lambda ids: {
        "referenceId": "tenancy",
        "operations": [issue(ids.walletId, 1)],
    },
    "submitReversal": lambda ids: {"referenceId": "tenancy-reversal"},
    "createWebhook": lambda ids: WEBHOOK,
    "submitTransactionBatch": lambda ids: {
        "transactions": [{"referenceId": "tenancy-batch", "operations": [issue(ids.walletId, 1)]}]
    },
}
# The caller's own ids succeed, except where the fixture makes a conflict the expected answer.
# Upserts of the existing customer update it.
OWN_STATUS = {
    "deleteAsset": 409,
    "deleteCurrency": 409,
    "deleteCustomer": 409,
    "upsertCustomer": 200,
    "putCustomer": 200,
}


async def call(api: Api, route: Route, ids: Ids) -> Reply:
    body = BODIES.get(route.endpoint.operation_id, lambda ids: None)(ids)
    return await api.call(route.method, path_of(route, ids), body)


def same_answer(one: Reply, other: Reply, one_id: str, other_id: str) -> None:
    assert one.status == other.status == 404
    assert one.headers["Content-Type"] == other.headers["Content-Type"]
    assert one.body == _replace(other.body, other_id, one_id)


def _replace(body: Any, old: str, new: str) -> Any:
    return {"error": {key: str(value).replace(old, new) for key, value in body["error"].items()}}


async def snapshot(settings: Settings, project_id: str) -> list[Any]:
    """Everything stored for a project, to show that calls from outside changed nothing."""
    queries = [
        "SELECT * FROM projects WHERE id = $1",
        "SELECT * FROM assets WHERE project_id = $1 ORDER BY id",
        "SELECT * FROM customers WHERE project_id = $1 ORDER BY id",
        "SELECT * FROM wallets WHERE project_id = $1 ORDER BY id",
        "SELECT * FROM transactions WHERE project_id = $1 ORDER BY id",
        "SELECT * FROM holds WHERE project_id = $1 ORDER BY id",
        "SELECT e.* FROM entries e JOIN wallets w ON w.id = e.wallet_id"
        " WHERE w.project_id = $1 ORDER BY e.id",
        "SELECT id, url, events, description, deleted_at FROM webhook_endpoints"
        " WHERE project_id = $1 ORDER BY id",
    ]
    return [
        [dict(row) for row in await fetch_rows(settings, query, project_id)] for query in queries
    ]


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_projects_own_foreign_and_missing(
    route: Route, api: Api, other_api: Api, migrated: Settings
) -> None:
    mine, theirs = await make_ids(api), await make_ids(other_api)
    before = await snapshot(migrated, theirs.projectId)
    missing = Ids(MISSING, MISSING, MISSING_CUSTOMER, MISSING, MISSING, MISSING, MISSING)
    foreign = await call(api, route, theirs)
    absent = await call(api, route, missing)
    assert foreign.body["error"]["code"] == "ProjectNotFound"
    same_answer(foreign, absent, theirs.projectId, MISSING)
    own = await call(api, route, mine)
    expected = OWN_STATUS.get(route.endpoint.operation_id, route.endpoint.status)
    assert own.status == expected, own.body
    assert await snapshot(migrated, theirs.projectId) == before


SUB_ROUTES = [route for route in TENANT_ROUTES if set(route.path_parameters()) & set(SUB_IDS)]


@pytest.mark.parametrize("route", SUB_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_foreign_ids_in_the_own_project_look_missing(
    route: Route, api: Api, other_api: Api, migrated: Settings
) -> None:
    mine, theirs = await make_ids(api), await make_ids(other_api)
    before = await snapshot(migrated, theirs.projectId)
    for name in set(route.path_parameters()) & set(SUB_IDS):
        foreign_ids = Ids(**(vars(mine) | {name: getattr(theirs, name)}))
        missing_value = MISSING_CUSTOMER if name == "customerId" else MISSING
        missing_ids = Ids(**(vars(mine) | {name: missing_value}))
        foreign = await call(api, route, foreign_ids)
        absent = await call(api, route, missing_ids)
        if route.endpoint.operation_id == "putCustomer":
            # An upsert by a customer id the project does not have creates that customer.
            assert foreign.status == absent.status == 201
            continue
        assert foreign.body["error"]["code"].endswith("NotFound"), foreign.body
        same_answer(foreign, absent, getattr(theirs, name), missing_value)
    assert await snapshot(migrated, theirs.projectId) == before


async def test_ids_in_bodies_from_another_tenant_look_missing(api: Api, other_api: Api) -> None:
    mine, theirs = await make_ids(api), await make_ids(other_api)
    base = f"/projects/{mine.projectId}"
    for path, field in (("/wallets", "assetId"), ("/system-wallets", "assetId")):
        body = {"customerId": mine.customerId} if path == "/wallets" else {}
        foreign = await api.post(base + path, body | {field: theirs.assetId})
        absent = await api.post(base + path, body | {field: MISSING})
        same_answer(foreign, absent, theirs.assetId, MISSING)
    foreign_customer = await api.post(
        base + "/wallets", {"customerId": theirs.customerId, "assetId": mine.assetId}
    )
    assert (foreign_customer.status, foreign_customer.body["error"]["code"]) == (
        404,
        "CustomerNotFound",
    )
    resumed = await api.put(
        f"{base}/customers/{mine.customerId}/resume", {"walletIds": [theirs.walletId]}
    )
    assert (resumed.status, resumed.body["error"]["code"]) == (404, "WalletNotFound")
    listed = await other_api.get("/projects")
    assert mine.projectId not in [item["id"] for item in listed.body["items"]]


def test_the_matrix_covers_every_route_of_the_table() -> None:
    def keys(routes: list[Route]) -> set[tuple[str, str]]:
        return {(route.method, route.path) for route in routes}

    public = [route for route in ROUTES if route.endpoint.public]
    # The tenant's own lists and keys (another tenant's keys: test_keys.py).
    tenant_level = [route for route in ROUTES if route.path.split("/")[1] in ("projects", "keys")]
    tenant_level = [route for route in tenant_level if route not in TENANT_ROUTES]
    assert keys(TENANT_ROUTES) | keys(public) | keys(tenant_level) == keys(list(ROUTES))
    operations = {route.endpoint.operation_id for route in TENANT_ROUTES}
    assert {op for op in BODIES} <= operations
    assert all(
        route.endpoint.operation_id in BODIES or route.endpoint.body is None
        for route in TENANT_ROUTES
    )
