"""The project-wide list of wallets, in id order (the order they were opened), filtered by
asset, customer, type, status, metadata and the time they were opened, by page number or by
cursor (the id of the last wallet of the page: a bound on the index, so that a deep page costs
what the first does).

Each filter is a condition with an index behind it (shared/migrations/0007_search.sql): the
project's wallets in id order (`wallets_project`), an asset's (`wallets_asset_id`), a
customer's (`wallets_customer`), the system wallets (`wallets_system`), those not Open
(`wallets_not_open`), and containment on the GIN index of the wallets with metadata."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE, SETTINGS
from gateway.filtering import Select
from gateway.http import json_response, read_query
from gateway.listing import ID_KEY, decode_cursor, encode_cursor
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import WalletQuery
from gateway.representations import page_items, wallet_from_row

CURSOR_KIND = "w"
# Constants, so that the partial indexes are planned for the values they cover.
TYPE_CONDITIONS = {"system": "customer_id IS NULL", "customer": "customer_id IS NOT NULL"}
STATUS_CONDITIONS = {
    "Open": "status = 'Open'",
    "Suspended": "status = 'Suspended'",
    "Closed": "status = 'Closed'",
}


def list_statement(project_id: str, query: WalletQuery, page_size: int) -> tuple[str, list[object]]:
    """The page's SELECT with the conditions of the filters given, and its arguments."""
    select = Select("SELECT * FROM wallets WHERE project_id = $", project_id)
    if query.asset_id is not None:
        select.where("asset_id = $", query.asset_id)
    if query.customer_id is not None:
        select.where("customer_id = $", query.customer_id)
    if query.type is not None:
        select.where(TYPE_CONDITIONS[query.type])
    if query.status is not None:
        select.where(STATUS_CONDITIONS[query.status])
    if query.metadata is not None:
        select.where("metadata <> '{}' AND metadata @> $::jsonb", query.metadata)
    select.window("created_at", query.window())
    if query.cursor is not None:
        select.where("id > $", decode_cursor(query.cursor, CURSOR_KIND, ID_KEY)[0])
    return select.statement(
        "ORDER BY id LIMIT $ OFFSET $", page_size + 1, (query.page - 1) * page_size
    )


async def list_wallets(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    query = read_query(request, WalletQuery, {"page_size_max": settings.page_size_max})
    page_size = query.size(settings.page_size_default)
    statement, arguments = list_statement(request.match_info["projectId"], query, page_size)
    rows, has_more = page_items(await request.app[DATABASE].fetch(statement, *arguments), page_size)
    page = responses.WalletCursorPage(
        items=[wallet_from_row(row) for row in rows],
        page=query.page,
        page_size=page_size,
        has_more=has_more,
        next_cursor=encode_cursor(CURSOR_KIND, rows[-1]["id"]) if has_more else None,
    )
    return json_response(page)


LIST_WALLETS = Endpoint(
    "listWallets",
    list_wallets,
    "List a project's wallets",
    "Wallets",
    response=responses.WalletCursorPage,
    response_example=examples.page([examples.WALLET], cursor=True),
    query=WalletQuery,
    description="Every wallet of the project, customer and system wallets, in id order (the"
    " order they were opened), filtered by assetId, customerId, type, status, metadata[key]="
    "value (repeatable with other keys, all must match) and the time they were opened (from,"
    " to), in any combination. For deep pages pass the nextCursor of the previous page as"
    " cursor (with the same filters). An unknown query parameter, or a bad value, is a 400"
    " naming it.",
)
