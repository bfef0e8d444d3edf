"""The list of a project's applied transactions (Completed or Failed), newest first (or
oldest first), by page or by cursor.

Transactions are ordered by the time the gateway accepted them, then by id; the cursor is that
pair for the last transaction of a page, a bound on the `transactions_project_created
(project_id, created_at, id)` index, as are `from` and `to`. A transaction still Pending is
not in the list yet; read it by its id."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.http import json_response
from gateway.listing import after_moment_id, moment_id_cursor, read_ledger_query
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import LedgerQuery
from gateway.representations import page_items, transaction_from_state
from shared.contract.messages import transaction_from_row

_WINDOW = """
SELECT * FROM transactions
WHERE project_id = $1
  AND created_at >= coalesce($2::timestamptz, '-infinity')
  AND created_at < coalesce($3::timestamptz, 'infinity')
"""
NEWEST_FIRST = (
    _WINDOW + "AND (created_at, id) < (coalesce($4::timestamptz, 'infinity'), $5::text)"
    " ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7"
)
OLDEST_FIRST = (
    _WINDOW + "AND (created_at, id) > (coalesce($4::timestamptz, '-infinity'), $5::text)"
    " ORDER BY created_at ASC, id ASC LIMIT $6 OFFSET $7"
)


async def list_transactions(request: web.Request) -> web.Response:
    query, page_size = read_ledger_query(request, LedgerQuery)
    newest_first = query.order == "desc"
    after_moment, after_id = after_moment_id(query.cursor, "t")
    rows = await request.app[DATABASE].fetch(
        NEWEST_FIRST if newest_first else OLDEST_FIRST,
        request.match_info["projectId"],
        *query.window(),
        after_moment,
        after_id,
        page_size + 1,
        (query.page - 1) * page_size,
    )
    rows, has_more = page_items(rows, page_size)
    next_cursor = moment_id_cursor("t", rows[-1]) if has_more else None
    page = responses.TransactionPage(
        items=[transaction_from_state(transaction_from_row(row)) for row in rows],
        page=query.page,
        page_size=page_size,
        has_more=has_more,
        next_cursor=next_cursor,
    )
    return json_response(page)


LIST_TRANSACTIONS = Endpoint(
    "listTransactions",
    list_transactions,
    "List a project's transactions",
    "Transactions",
    response=responses.TransactionPage,
    response_example=examples.page([examples.TRANSACTION], cursor=True),
    query=LedgerQuery,
    description="The transactions the ledger has applied (Completed or Failed), newest first"
    " unless order=asc, filtered by the time they were submitted. For deep pages pass the"
    " nextCursor of the previous page as cursor (with the same order, from and to).",
)
