"""Customers of a project: upsert by POST or PUT (201 when created, 200 when updated), details,
metadata, delete once all their wallets are Closed, and the list of their wallets.

Deleting is soft: the row stays, marked deleted, so that the customer's Closed wallets keep
their customerId. A deleted customer answers 404 everywhere; upserting the same id again
creates a new customer (Active, with only the name and description sent)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.http import json_response, read_model
from gateway.listing import read_page
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint, Link
from gateway.query_strings import PageQuery
from gateway.representations import customer_from_row, page_items, wallet_from_row
from gateway.requests import PutCustomer, ReplaceMetadata, UpsertCustomer
from shared.errors import Conflict, NotFound

TAG = "Customers"

# A customer deleted earlier comes back as a new one. `created_at = now()` holds exactly for
# a row inserted or revived by this statement: now() is the transaction's start time.
UPSERT = """
INSERT INTO customers (project_id, id, name, description, metadata)
VALUES ($1, $2, coalesce($3, ''), coalesce($4, ''), coalesce($5::jsonb, '{}'))
ON CONFLICT (project_id, id) DO UPDATE SET
    name = CASE WHEN customers.deleted_at IS NULL
                THEN coalesce($3, customers.name) ELSE coalesce($3, '') END,
    description = CASE WHEN customers.deleted_at IS NULL
                       THEN coalesce($4, customers.description) ELSE coalesce($4, '') END,
    metadata = CASE WHEN customers.deleted_at IS NULL
                    THEN coalesce($5::jsonb, customers.metadata)
                    ELSE coalesce($5::jsonb, '{}') END,
    status = CASE WHEN customers.deleted_at IS NULL THEN customers.status ELSE 'Active' END,
    created_at = CASE WHEN customers.deleted_at IS NULL THEN customers.created_at ELSE now() END,
    deleted_at = NULL,
    updated_at = now()
RETURNING *, (created_at = now()) AS created
"""
SELECT_CUSTOMER = """
SELECT * FROM customers WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL
"""


async def upsert_customer(request: web.Request) -> web.Response:
    body = await read_model(request, UpsertCustomer)
    return await _upsert(request, body.id, body)


async def put_customer(request: web.Request) -> web.Response:
    body = await read_model(request, PutCustomer)
    return await _upsert(request, request.match_info["customerId"], body)


async def _upsert(
    request: web.Request, customer_id: str, body: UpsertCustomer | PutCustomer
) -> web.Response:
    row = await request.app[DATABASE].fetchone(
        UPSERT,
        request.match_info["projectId"],
        customer_id,
        body.name,
        body.description,
        body.metadata,
    )
    return json_response(customer_from_row(row), status=201 if row["created"] else 200)


async def replace_customer_metadata(request: web.Request) -> web.Response:
    body = await read_model(request, ReplaceMetadata)
    row = await request.app[DATABASE].fetchrow(
        "UPDATE customers SET metadata = $3, updated_at = now()"
        " WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING *",
        request.match_info["projectId"],
        request.match_info["customerId"],
        body.metadata,
    )
    return json_response(customer_from_row(_found(request, row)))


async def get_customer(request: web.Request) -> web.Response:
    row = await request.app[DATABASE].fetchrow(
        SELECT_CUSTOMER, request.match_info["projectId"], request.match_info["customerId"]
    )
    return json_response(customer_from_row(_found(request, row)))


async def delete_customer(request: web.Request) -> web.Response:
    """The customer row is locked first: opening a wallet or reopening one takes a share lock
    on it, so no wallet can become active while the delete decides."""
    project_id, customer_id = request.match_info["projectId"], request.match_info["customerId"]
    async with request.app[DATABASE].transaction() as connection:
        row = await connection.fetchrow(SELECT_CUSTOMER + " FOR UPDATE", project_id, customer_id)
        _found(request, row)
        active = await connection.fetchval(
            "SELECT count(*) FROM wallets WHERE project_id = $1 AND customer_id = $2"
            " AND status <> 'Closed'",
            project_id,
            customer_id,
        )
        if active:
            raise Conflict(
                f"customer {customer_id} has wallets that are not Closed",
                code="CustomerHasActiveWallets",
                details={"activeWalletCount": active},
            )
        await connection.execute(
            "UPDATE customers SET deleted_at = now(), updated_at = now()"
            " WHERE project_id = $1 AND id = $2",
            project_id,
            customer_id,
        )
    return web.Response(status=204)


async def list_customer_wallets(request: web.Request) -> web.Response:
    page, page_size = read_page(request)
    project_id, customer_id = request.match_info["projectId"], request.match_info["customerId"]
    database = request.app[DATABASE]
    _found(request, await database.fetchrow(SELECT_CUSTOMER, project_id, customer_id))
    rows = await database.fetch(
        "SELECT * FROM wallets WHERE project_id = $1 AND customer_id = $2"
        " ORDER BY id LIMIT $3 OFFSET $4",
        project_id,
        customer_id,
        page_size + 1,
        (page - 1) * page_size,
    )
    rows, has_more = page_items(rows, page_size)
    items = [wallet_from_row(row) for row in rows]
    return json_response(
        responses.WalletPage(items=items, page=page, page_size=page_size, has_more=has_more)
    )


def customer_not_found(customer_id: str) -> NotFound:
    return NotFound(f"customer {customer_id} not found", code="CustomerNotFound")


def _found(request: web.Request, row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        raise customer_not_found(request.match_info["customerId"])
    return row


_CUSTOMER = {"projectId": "$request.path.projectId", "customerId": "$response.body#/id"}
_CUSTOMER_LINKS = (
    Link("GetCustomer", "getCustomer", _CUSTOMER),
    Link("PutCustomer", "putCustomer", _CUSTOMER),
    Link("DeleteCustomer", "deleteCustomer", _CUSTOMER),
    Link("SuspendCustomer", "suspendCustomer", _CUSTOMER),
    Link("ResumeCustomer", "resumeCustomer", _CUSTOMER),
    Link("ListCustomerWallets", "listCustomerWallets", _CUSTOMER),
    Link("ReplaceCustomerMetadata", "replaceCustomerMetadata", _CUSTOMER),
    Link(
        "OpenWallet",
        "openWallet",
        {"projectId": "$request.path.projectId"},
        {"customerId": "$response.body#/id"},
    ),
)
_UPSERT_DESCRIPTION = (
    "Creates the customer (201) or updates the name, description and metadata sent (200);"
    " fields not sent keep their value (metadata sent replaces the whole metadata), and the"
    " status is left as it is. A deleted customer's id creates a new customer."
)
UPSERT_CUSTOMER = Endpoint(
    "upsertCustomer",
    upsert_customer,
    "Create or update a customer",
    TAG,
    status=201,
    also_status=200,
    response=responses.Customer,
    response_example=examples.dump(examples.CUSTOMER),
    body=UpsertCustomer,
    body_example={
        "id": "customer-42",
        "name": "Ada",
        "description": "gold tier",
        "metadata": {"crmId": "C-981", "tier": "gold"},
    },
    description=_UPSERT_DESCRIPTION,
    links=_CUSTOMER_LINKS,
)
PUT_CUSTOMER = Endpoint(
    "putCustomer",
    put_customer,
    "Create or update a customer by its id",
    TAG,
    status=201,
    also_status=200,
    response=responses.Customer,
    response_example=examples.dump(examples.CUSTOMER),
    body=PutCustomer,
    body_required=False,
    body_example={"name": "Ada", "description": "gold tier"},
    description=_UPSERT_DESCRIPTION + " The body may be empty (or absent).",
    links=_CUSTOMER_LINKS,
)
GET_CUSTOMER = Endpoint(
    "getCustomer",
    get_customer,
    "A customer",
    TAG,
    response=responses.Customer,
    response_example=examples.dump(examples.CUSTOMER),
    errors=("CustomerNotFound",),
    description="The customer by the caller's own id, with their status and metadata.",
)
DELETE_CUSTOMER = Endpoint(
    "deleteCustomer",
    delete_customer,
    "Delete a customer whose wallets are all Closed",
    TAG,
    status=204,
    errors=("CustomerNotFound", "CustomerHasActiveWallets"),
    description="The customer's Closed wallets stay readable and keep their customerId.",
)
LIST_CUSTOMER_WALLETS = Endpoint(
    "listCustomerWallets",
    list_customer_wallets,
    "List a customer's wallets",
    TAG,
    response=responses.WalletPage,
    response_example=examples.page([examples.WALLET]),
    query=PageQuery,
    errors=("CustomerNotFound",),
    description="Every wallet of the customer, Closed ones included, in id order (the order"
    " they were opened); paged by page and pageSize.",
)
REPLACE_CUSTOMER_METADATA = Endpoint(
    "replaceCustomerMetadata",
    replace_customer_metadata,
    "Replace a customer's metadata",
    TAG,
    response=responses.Customer,
    response_example=examples.dump(examples.CUSTOMER),
    body=ReplaceMetadata,
    body_example={"metadata": {"crmId": "C-981", "tier": "gold"}},
    errors=("CustomerNotFound",),
    description="The metadata given replaces the customer's whole metadata ({} removes it all).",
)
