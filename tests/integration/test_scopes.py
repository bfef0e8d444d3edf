"""The scope matrix (design section 10): every route of the route table is called with a full
key, a read key, a customer key on its own customer's resources, and the same customer key on
another customer's (or, for the project itself, another project's). Read keys may only GET;
customer keys may make exactly the reads `gateway.scopes.CUSTOMER_READS` lists, their own
answering as for a full key and another customer's 404 as missing ones do; everything else is
403 Forbidden and changes nothing. The table is generated from the routes, and the set of reads
a customer key may make is spelled out here, so a new route cannot be forgotten."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.openapi.endpoint import Route
from gateway.routes import ROUTES
from gateway.scopes import CUSTOMER_READS, FULL_ONLY
from shared.settings import Settings
from tests.integration.test_tenancy import BODIES, OWN_STATUS, Ids, make_ids, snapshot
from tests.support import Api, Reply

AUTHENTICATED = [route for route in ROUTES if not route.endpoint.public]
# Design section 10: the project (name and assets), the customer, their wallets, those
# wallets' entries, balances and holds, and the transactions touching them.
CUSTOMER_OPERATIONS = {
    "getProject",
    "getCustomer",
    "listCustomerWallets",
    "getWallet",
    "getWalletBalance",
    "listEntries",
    "getTransaction",
    "listTransactions",
    "getHold",
    "listHolds",
}
WALLET_QUERIES = {"listTransactions", "listHolds"}
TENANT_BODIES = {
    "createProject": {"name": "scoped"},
    "createKey": {"name": "scoped", "scope": "read"},
}


@dataclass
class Keys:
    full: Api
    read: Api
    customer: Api
    key_id: str


async def make_keys(api: Api, ids: Ids) -> Keys:
    read = await api.created("/keys", {"name": "read", "scope": "read"})
    customer = await api.created(
        "/keys",
        {
            "name": "customer",
            "scope": "customer",
            "projectId": ids.projectId,
            "customerId": ids.customerId,
        },
    )
    spare = await api.created("/keys", {"name": "to revoke", "scope": "read"})
    return Keys(
        api,
        Api(api.session, api.base_url, read["secret"]),
        Api(api.session, api.base_url, customer["secret"]),
        spare["id"],
    )


def request_of(route: Route, ids: Ids, key_id: str) -> tuple[str, Any]:
    values = vars(ids) | {"keyId": key_id}
    path = re.sub(r"\{(\w+)\}", lambda match: str(values[match.group(1)]), route.path)
    operation = route.endpoint.operation_id
    if operation in WALLET_QUERIES:
        path += f"?walletId={ids.walletId}"
    body = TENANT_BODIES.get(operation) or BODIES.get(operation, lambda ids: None)(ids)
    return path, body


async def call(api: Api, route: Route, ids: Ids, key_id: str) -> Reply:
    path, body = request_of(route, ids, key_id)
    return await api.call(route.method, path, body)


def test_the_customer_reads_are_exactly_those_of_the_design() -> None:
    assert set(CUSTOMER_READS) == CUSTOMER_OPERATIONS
    operations = {route.endpoint.operation_id for route in ROUTES}
    assert operations >= CUSTOMER_OPERATIONS | FULL_ONLY
    assert all(
        route.method == "GET"
        for route in ROUTES
        if route.endpoint.operation_id in CUSTOMER_OPERATIONS
    )


@pytest.mark.parametrize("route", AUTHENTICATED, ids=lambda route: route.endpoint.operation_id)
async def test_scope_matrix(route: Route, api: Api, migrated: Settings) -> None:
    own = await make_ids(api)
    other = await make_ids(api)  # another customer's wallet, transaction and hold
    other = Ids(**(vars(other) | {"projectId": own.projectId, "assetId": own.assetId}))
    keys = await make_keys(api, own)
    operation = route.endpoint.operation_id
    expected_full = OWN_STATUS.get(operation, route.endpoint.status)
    before = await snapshot(migrated, own.projectId)

    read = await call(keys.read, route, own, keys.key_id)
    if route.method == "GET" and operation not in FULL_ONLY:
        assert read.status == expected_full, read.body
    else:
        assert (read.status, read.body["error"]["code"]) == (403, "Forbidden")

    mine = await call(keys.customer, route, own, keys.key_id)
    if other.projectId == own.projectId and operation == "getProject":
        other = Ids(**(vars(other) | {"projectId": (await make_ids(api)).projectId}))
    theirs = await call(keys.customer, route, other, keys.key_id)
    if operation in CUSTOMER_OPERATIONS:
        assert mine.status == 200, mine.body
        assert theirs.status == 404, theirs.body
        assert theirs.body["error"]["code"].endswith("NotFound")
    else:
        assert (mine.status, mine.body["error"]["code"]) == (403, "Forbidden")
        assert (theirs.status, theirs.body["error"]["code"]) == (403, "Forbidden")
    assert await snapshot(migrated, own.projectId) == before

    full = await call(keys.full, route, own, keys.key_id)
    assert full.status == expected_full, full.body


async def test_customer_lists_need_one_of_their_wallets(api: Api) -> None:
    own = await make_ids(api)
    keys = await make_keys(api, own)
    base = f"/projects/{own.projectId}"
    for path in ("/transactions", "/holds"):
        unfiltered = await keys.customer.get(base + path)
        assert (unfiltered.status, unfiltered.body["error"]["code"]) == (403, "Forbidden")
        listed = await keys.customer.get(f"{base}{path}?walletId={own.walletId}")
        assert listed.status == 200 and len(listed.body["items"]) >= 1
    transactions = await keys.customer.get(f"{base}/transactions?walletId={own.walletId}")
    assert [item["id"] for item in transactions.body["items"]] == [own.transactionId]
