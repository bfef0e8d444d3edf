"""Customers of a project: upsert (201 when created, 200 when updated) and details."""

from __future__ import annotations

from aiohttp import web

from gateway.http import json_response, read_model
from gateway.keys import DATABASE
from gateway.models import UpsertCustomer
from gateway.views import customer_view
from shared.errors import NotFound

UPSERT = """
INSERT INTO customers (project_id, id, name, description)
VALUES ($1, $2, coalesce($3, ''), coalesce($4, ''))
ON CONFLICT (project_id, id) DO UPDATE SET
    name = coalesce($3, customers.name),
    description = coalesce($4, customers.description),
    deleted_at = NULL,
    updated_at = now()
RETURNING *, (xmax = 0) AS created
"""


async def upsert_customer(request: web.Request) -> web.Response:
    body = await read_model(request, UpsertCustomer)
    row = await request.app[DATABASE].fetchone(
        UPSERT, request.match_info["projectId"], body.id, body.name, body.description
    )
    return json_response(customer_view(row), status=201 if row["created"] else 200)


async def get_customer(request: web.Request) -> web.Response:
    customer_id = request.match_info["customerId"]
    row = await request.app[DATABASE].fetchrow(
        "SELECT * FROM customers WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL",
        request.match_info["projectId"],
        customer_id,
    )
    if row is None:
        raise NotFound(f"customer {customer_id} not found", code="CustomerNotFound")
    return json_response(customer_view(row))
