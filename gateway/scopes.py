"""What each scope may do (docs/api.md "Keys and scopes", design section 10). A `full` key may
do everything its tenant may; a `read` key may only GET, and not the keys; a `customer` key
(one project, one customer) may only make the reads listed in CUSTOMER_READS, each tied to its
customer: another customer's (or project's) resource answers 404 as a missing one does.
Everything else is 403 Forbidden, decided before a body is read or a handler runs.

The customer checks cost one indexed query per request (the wallet, hold or transaction is
the customer's); only customer keys make them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from aiohttp import web

from gateway.auth import Principal
from gateway.db import Database
from shared.access.keystore import Scope, StoredKey
from shared.errors import Forbidden, NotFound


class CustomerRead(Enum):
    """How a read a customer key may make is tied to its customer."""

    PROJECT = "the project itself"
    CUSTOMER = "the customer in the path"
    WALLET = "a wallet of the customer in the path"
    TRANSACTION = "a transaction touching one of the customer's wallets"
    HOLD = "a hold on one of the customer's wallets"
    WALLET_QUERY = "a list filtered by a wallet of the customer (walletId, required)"


# The reads of design section 10, by operation id: the customer's project (its name and
# assets), the customer, their wallets, those wallets' entries, balances and holds, and the
# transactions touching those wallets (by id, or listed with walletId of one of them).
CUSTOMER_READS: Mapping[str, CustomerRead] = {
    "getProject": CustomerRead.PROJECT,
    "getCustomer": CustomerRead.CUSTOMER,
    "listCustomerWallets": CustomerRead.CUSTOMER,
    "getWallet": CustomerRead.WALLET,
    "getWalletBalance": CustomerRead.WALLET,
    "listEntries": CustomerRead.WALLET,
    "getTransaction": CustomerRead.TRANSACTION,
    "listTransactions": CustomerRead.WALLET_QUERY,
    "getHold": CustomerRead.HOLD,
    "listHolds": CustomerRead.WALLET_QUERY,
}
# Routes only a full key may call, whatever their method: the keys themselves.
FULL_ONLY = frozenset({"createKey", "listKeys", "revokeKey"})

WALLET_OF_CUSTOMER = """
SELECT 1 FROM wallets WHERE id = $1 AND project_id = $2 AND customer_id = $3
"""
HOLD_OF_CUSTOMER = """
SELECT 1 FROM holds h JOIN wallets w ON w.id IN (h.wallet_id, h.to_wallet_id)
WHERE h.id = $1 AND h.project_id = $2 AND w.project_id = $2 AND w.customer_id = $3
LIMIT 1
"""
# A transaction touches a wallet that one of its operations names, directly (from, to) or
# through the hold it captures or voids.
TRANSACTION_OF_CUSTOMER = """
SELECT 1 FROM transactions t, jsonb_array_elements(t.operations) operation
JOIN wallets w ON w.id IN (
    operation ->> 'from',
    operation ->> 'to',
    (SELECT h.wallet_id FROM holds h WHERE h.id = operation ->> 'holdId'),
    (SELECT h.to_wallet_id FROM holds h WHERE h.id = operation ->> 'holdId')
)
WHERE t.id = $1 AND t.project_id = $2 AND w.project_id = $2 AND w.customer_id = $3
LIMIT 1
"""


async def authorize(
    request: web.Request, operation_id: str, principal: Principal, database: Database
) -> None:
    """403 Forbidden unless the principal's scope allows the route; for a customer key, 404
    unless the resource is its customer's."""
    scope = principal.scope
    if scope is Scope.FULL:
        return
    if scope is Scope.READ:
        if request.method != "GET" or operation_id in FULL_ONLY:
            raise Forbidden("a read key may only read")
        return
    read = CUSTOMER_READS.get(operation_id)
    if read is None or request.method != "GET":
        raise Forbidden("a customer key may only read its customer's wallets and transactions")
    await _check_customer_read(request, read, principal, database)


async def _check_customer_read(
    request: web.Request, read: CustomerRead, principal: Principal, database: Database
) -> None:
    key = principal.key
    path = request.match_info
    if path.get("projectId") != key.project_id:
        raise NotFound(f"project {path.get('projectId')} not found", code="ProjectNotFound")
    if read is CustomerRead.PROJECT:
        return
    if read is CustomerRead.CUSTOMER:
        if path["customerId"] != key.customer_id:
            raise NotFound(f"customer {path['customerId']} not found", code="CustomerNotFound")
        return
    if read is CustomerRead.WALLET_QUERY:
        wallet_ids = request.query.getall("walletId", [])
        if len(wallet_ids) != 1:
            raise Forbidden("a customer key lists only with walletId of one of its wallets")
        await _check_row(database, WALLET_OF_CUSTOMER, wallet_ids[0], key, "WalletNotFound")
        return
    name, query, code = {
        CustomerRead.WALLET: ("walletId", WALLET_OF_CUSTOMER, "WalletNotFound"),
        CustomerRead.TRANSACTION: ("transactionId", TRANSACTION_OF_CUSTOMER, "TransactionNotFound"),
        CustomerRead.HOLD: ("holdId", HOLD_OF_CUSTOMER, "HoldNotFound"),
    }[read]
    await _check_row(database, query, path[name], key, code)


async def _check_row(
    database: Database, query: str, resource_id: str, key: StoredKey, code: str
) -> None:
    found = await database.fetchval(query, resource_id, key.project_id, key.customer_id)
    if found is None:
        thing = code.removesuffix("NotFound").lower()
        raise NotFound(f"{thing} {resource_id} not found", code=code)
