"""Suspend and resume a customer, with their wallets, each in one database transaction.

Locks are taken in one order everywhere: the customer row, then wallet rows in id order (the
worker also locks wallets in id order), so a suspension and a batch of transactions serialize
instead of deadlocking, and a transaction applied after the suspension committed sees the
wallets Suspended."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.handlers.customers import SELECT_CUSTOMER, customer_not_found
from gateway.http import json_response, read_model
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.representations import customer_from_row
from gateway.requests import ResumeCustomer
from shared.database import Connection
from shared.errors import Conflict, InvariantViolation, NotFound

TAG = "Customers"
SET_CUSTOMER_STATUS = """
UPDATE customers SET status = $3, updated_at = now()
WHERE project_id = $1 AND id = $2 RETURNING *
"""


async def suspend_customer(request: web.Request) -> web.Response:
    project_id, customer_id = request.match_info["projectId"], request.match_info["customerId"]
    async with request.app[DATABASE].transaction() as connection:
        await _lock_customer(connection, project_id, customer_id)
        open_ids = [
            row["id"]
            for row in await connection.fetch(
                "SELECT id FROM wallets WHERE project_id = $1 AND customer_id = $2"
                " AND status = 'Open' ORDER BY id FOR UPDATE",
                project_id,
                customer_id,
            )
        ]
        await _set_wallets(connection, open_ids, "Suspended")
        row = await connection.fetchrow(SET_CUSTOMER_STATUS, project_id, customer_id, "Suspended")
    return json_response(customer_from_row(_row(row)))


async def resume_customer(request: web.Request) -> web.Response:
    body = await read_model(request, ResumeCustomer)
    wallet_ids = sorted(set(body.wallet_ids))
    project_id, customer_id = request.match_info["projectId"], request.match_info["customerId"]
    async with request.app[DATABASE].transaction() as connection:
        await _lock_customer(connection, project_id, customer_id)
        wallets = await connection.fetch(
            "SELECT id, customer_id, status FROM wallets WHERE project_id = $1"
            " AND id = ANY($2::text[]) ORDER BY id FOR UPDATE",
            project_id,
            wallet_ids,
        )
        _check_resumable(customer_id, wallet_ids, wallets)
        suspended = [row["id"] for row in wallets if row["status"] == "Suspended"]
        await _set_wallets(connection, suspended, "Open")
        row = await connection.fetchrow(SET_CUSTOMER_STATUS, project_id, customer_id, "Active")
    return json_response(customer_from_row(_row(row)))


async def _lock_customer(connection: Connection, project_id: str, customer_id: str) -> None:
    row = await connection.fetchrow(SELECT_CUSTOMER + " FOR UPDATE", project_id, customer_id)
    if row is None:
        raise customer_not_found(customer_id)


async def _set_wallets(connection: Connection, wallet_ids: list[str], status: str) -> None:
    if wallet_ids:
        await connection.execute(
            "UPDATE wallets SET status = $2, updated_at = now() WHERE id = ANY($1::text[])",
            wallet_ids,
            status,
        )


def _check_resumable(
    customer_id: str, wallet_ids: list[str], wallets: list[asyncpg.Record]
) -> None:
    """Every listed wallet must be the customer's and not Closed; else nothing changes."""
    theirs = {row["id"]: row["status"] for row in wallets if row["customer_id"] == customer_id}
    missing = [wallet_id for wallet_id in wallet_ids if wallet_id not in theirs]
    if missing:
        raise NotFound(
            f"wallets {', '.join(missing)} are not wallets of customer {customer_id}",
            code="WalletNotFound",
            details={"walletIds": missing},
        )
    closed = [wallet_id for wallet_id in wallet_ids if theirs[wallet_id] == "Closed"]
    if closed:
        raise Conflict(
            f"wallets {', '.join(closed)} are Closed, and Closed is final",
            code="InvalidStatusTransition",
            details={"walletIds": closed},
        )


def _row(row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        raise InvariantViolation("the customer row this transaction locked has gone")
    return row


SUSPEND_CUSTOMER = Endpoint(
    "suspendCustomer",
    suspend_customer,
    "Suspend a customer and all their Open wallets",
    TAG,
    response=responses.Customer,
    response_example=examples.dump(examples.CUSTOMER.model_copy(update={"status": "Suspended"})),
    errors=("CustomerNotFound",),
    description="Atomically: the customer and every Open wallet of theirs become Suspended."
    " Suspended wallets take part in no transaction applied after this call answered."
    " Suspending a Suspended customer changes nothing.",
)
RESUME_CUSTOMER = Endpoint(
    "resumeCustomer",
    resume_customer,
    "Resume a customer, reopening the wallets listed",
    TAG,
    response=responses.Customer,
    response_example=examples.dump(examples.CUSTOMER),
    body=ResumeCustomer,
    body_required=False,
    body_example={"walletIds": [examples.WALLET_ID]},
    errors=("CustomerNotFound", "WalletNotFound", "InvalidStatusTransition"),
    description="The customer becomes Active; only the wallets listed in walletIds reopen, the"
    " others stay Suspended. A listed wallet that is not the customer's (404 WalletNotFound)"
    " or is Closed (409 InvalidStatusTransition) fails the whole call and changes nothing.",
)
