"""The list of a project's customers, in id order, filtered by status, metadata and the time
they were created: the primary key (project_id, id) in the list's order, the partial index of
the Suspended customers, and containment on the GIN index of the customers with metadata
(shared/migrations/0007_search.sql)."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE, SETTINGS
from gateway.filtering import Select
from gateway.http import json_response, read_query
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import CustomerQuery
from gateway.representations import customer_from_row, page_items


async def list_customers(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    query = read_query(request, CustomerQuery, {"page_size_max": settings.page_size_max})
    page_size = query.size(settings.page_size_default)
    statement, arguments = list_statement(request.match_info["projectId"], query, page_size)
    rows, has_more = page_items(await request.app[DATABASE].fetch(statement, *arguments), page_size)
    items = [customer_from_row(row) for row in rows]
    return json_response(
        responses.CustomerPage(items=items, page=query.page, page_size=page_size, has_more=has_more)
    )


# Constants, so that the partial index of Suspended customers is planned for status=Suspended.
STATUS_CONDITIONS = {"Active": "status = 'Active'", "Suspended": "status = 'Suspended'"}


def list_statement(
    project_id: str, query: CustomerQuery, page_size: int
) -> tuple[str, list[object]]:
    """The page's SELECT with the conditions of the filters given, and its arguments: the
    project's customers in id order (the primary key), those Suspended on their partial index,
    and containment on the GIN index of the customers with metadata."""
    select = Select(
        "SELECT * FROM customers WHERE project_id = $ AND deleted_at IS NULL", project_id
    )
    if query.status is not None:
        select.where(STATUS_CONDITIONS[query.status])
    if query.metadata is not None:
        select.where("metadata <> '{}' AND metadata @> $::jsonb", query.metadata)
    select.window("created_at", query.window())
    return select.statement(
        "ORDER BY id LIMIT $ OFFSET $", page_size + 1, (query.page - 1) * page_size
    )


LIST_CUSTOMERS = Endpoint(
    "listCustomers",
    list_customers,
    "List a project's customers",
    "Customers",
    response=responses.CustomerPage,
    response_example=examples.page([examples.CUSTOMER]),
    query=CustomerQuery,
    description="The project's customers in id order, filtered by status, metadata[key]=value"
    " (repeatable with other keys, all must match) and the time they were created (from,"
    " to), in any combination. An unknown query parameter, or a bad value, is a 400 naming"
    " it.",
)
