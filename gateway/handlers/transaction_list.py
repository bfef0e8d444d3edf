"""The list of a project's applied transactions (Completed or Failed), newest first (or
oldest first), by page or by cursor, filtered.

Transactions are ordered by the time the gateway accepted them, then by id; the cursor is that
pair for the last transaction of a page, a bound on the `transactions_project_created
(project_id, created_at, id)` index, as are `from` and `to`. A transaction still Pending is
not in the list yet; read it by its id.

The filters (docs/decisions/0019-search-and-filters.md): `referenceId` is the unique
(project_id, reference_id) index; `status=Failed` the partial index of Failed transactions;
`metadata[k]=v` containment on the partial GIN index of the transactions with metadata;
`walletId` the transactions that posted an entry to the wallet (so Completed ones only),
found through the wallet's entries or, for a wallet in many transactions, by walking the
list's index and looking each transaction's entries up: PostgreSQL chooses by the wallet's
share of the entries."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.filtering import Select
from gateway.http import json_response
from gateway.listing import cursor_bound, moment_id_page, page_start, read_ledger_query
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import TransactionQuery
from gateway.representations import transaction_from_state
from shared.contract.messages import transaction_from_row

CURSOR_KIND = "t"
# Constants, so that the partial index of Failed transactions is planned for status=Failed.
STATUS_CONDITIONS = {
    "Completed": "status = 'Completed'",
    "Failed": "status = 'Failed'",
    "Pending": "false",
}
# Where a page starts and where it stops: gateway/listing.py, `page_start`.
NEWEST_FIRST = (
    "(created_at, id) < ($, $)",
    "created_at >= $",
    "ORDER BY created_at DESC, id DESC LIMIT $ OFFSET $",
)
OLDEST_FIRST = (
    "(created_at, id) > ($, $)",
    "created_at < $",
    "ORDER BY created_at ASC, id ASC LIMIT $ OFFSET $",
)


def list_statement(
    project_id: str, query: TransactionQuery, page_size: int
) -> tuple[str, list[object]]:
    """The page's SELECT with the conditions of the filters given, and its arguments."""
    select = Select("SELECT * FROM transactions WHERE project_id = $", project_id)
    if query.reference_id is not None:
        select.where("reference_id = $", query.reference_id)
    if query.status is not None:
        select.where(STATUS_CONDITIONS[query.status])
    if query.wallet_id is not None:
        select.where(
            "EXISTS (SELECT 1 FROM entries e WHERE e.transaction_id = transactions.id"
            " AND e.wallet_id = $)",
            query.wallet_id,
        )
    if query.metadata is not None:
        select.where("metadata IS NOT NULL AND metadata @> $::jsonb", query.metadata)
    newest_first = query.order == "desc"
    after, until, order = NEWEST_FIRST if newest_first else OLDEST_FIRST
    start, stop = page_start(
        query.window(), cursor_bound(query.cursor, CURSOR_KIND), newest_first, lowest_id=""
    )
    select.where(after, *start)
    if stop is not None:
        select.where(until, stop)
    return select.statement(order, page_size + 1, (query.page - 1) * page_size)


async def list_transactions(request: web.Request) -> web.Response:
    query, page_size = read_ledger_query(request, TransactionQuery)
    statement, arguments = list_statement(request.match_info["projectId"], query, page_size)
    rows = await request.app[DATABASE].fetch(statement, *arguments)
    page = moment_id_page(
        responses.TransactionPage,
        rows,
        query,
        page_size,
        CURSOR_KIND,
        lambda row: transaction_from_state(transaction_from_row(row)),
    )
    return json_response(page)


LIST_TRANSACTIONS = Endpoint(
    "listTransactions",
    list_transactions,
    "List a project's transactions",
    "Transactions",
    response=responses.TransactionPage,
    response_example=examples.page([examples.TRANSACTION], cursor=True),
    query=TransactionQuery,
    errors=("WalletNotFound",),  # a customer key's walletId of another customer
    description="The transactions the ledger has applied (Completed or Failed), newest first"
    " unless order=asc, filtered by the time they were submitted (from, to), by referenceId,"
    " status, walletId (the Completed transactions that posted an entry to the wallet) and"
    " metadata[key]=value (repeatable with other keys, all must match), in any combination."
    " For deep pages pass the nextCursor of the previous page as cursor (with the same order"
    " and filters). An unknown query parameter, or a bad value, is a 400 naming it. A customer"
    " key lists only with walletId of one of its customer's wallets (another wallet: 404"
    " WalletNotFound; none: 403 Forbidden).",
)
