"""Holds: read one, and list a project's holds newest first (or oldest first), by page or by
cursor, filtered by the wallet they draw on and by status.

Holds are written only by the partition's writer; the gateway reads them. The list is ordered
by the time the hold was made (its transaction's completion) and then by id, as transactions
are: the cursor is that pair for the last hold of a page, a bound on the `holds_project
(project_id, created_at, id)` index, or on `holds_wallet (wallet_id, created_at, id)` when the
list is of one wallet. The status filter is applied to the rows the index gives."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.http import json_response
from gateway.listing import cursor_bound, moment_id_page, page_start, read_ledger_query
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import HoldQuery
from gateway.representations import hold_from_row
from shared.errors import NotFound

TAG = "Holds"
CURSOR_KIND = "h"
# $1 the project, $2 the wallet (NULL: every wallet), $3 the status (NULL: every status). The
# two scopes are two statements so that each is planned on its own index.
_OF_PROJECT = "SELECT * FROM holds WHERE project_id = $1 AND $2::text IS NULL"
_OF_WALLET = "SELECT * FROM holds WHERE wallet_id = $2 AND project_id = $1"
# $4 and $5 the (created_at, id) the page starts after, $6 the time it stops at (NULL: none):
# gateway/listing.py, `page_start`.
_FILTERS = """
  AND ($3::text IS NULL OR status = $3)
"""
_NEWEST_FIRST = (
    _FILTERS + "AND (created_at, id) < ($4, $5)"
    " AND created_at >= coalesce($6::timestamptz, '-infinity')"
    " ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
)
_OLDEST_FIRST = (
    _FILTERS + "AND (created_at, id) > ($4, $5)"
    " AND created_at < coalesce($6::timestamptz, 'infinity')"
    " ORDER BY created_at ASC, id ASC LIMIT $7 OFFSET $8"
)
# (of one wallet, newest first) -> the statement
STATEMENTS = {
    (False, True): _OF_PROJECT + _NEWEST_FIRST,
    (False, False): _OF_PROJECT + _OLDEST_FIRST,
    (True, True): _OF_WALLET + _NEWEST_FIRST,
    (True, False): _OF_WALLET + _OLDEST_FIRST,
}


async def get_hold(request: web.Request) -> web.Response:
    hold_id = request.match_info["holdId"]
    row = await request.app[DATABASE].fetchrow(
        "SELECT * FROM holds WHERE id = $1 AND project_id = $2",
        hold_id,
        request.match_info["projectId"],
    )
    if row is None:
        raise NotFound(f"hold {hold_id} not found", code="HoldNotFound")
    return json_response(hold_from_row(row))


async def list_holds(request: web.Request) -> web.Response:
    query, page_size = read_ledger_query(request, HoldQuery)
    newest_first = query.order == "desc"
    start, stop = page_start(
        query.window(), cursor_bound(query.cursor, CURSOR_KIND), newest_first, lowest_id=""
    )
    rows = await request.app[DATABASE].fetch(
        STATEMENTS[(query.wallet_id is not None, newest_first)],
        request.match_info["projectId"],
        query.wallet_id,
        query.status,
        *start,
        stop,
        page_size + 1,
        (query.page - 1) * page_size,
    )
    page = moment_id_page(responses.HoldPage, rows, query, page_size, CURSOR_KIND, hold_from_row)
    return json_response(page)


GET_HOLD = Endpoint(
    "getHold",
    get_hold,
    "A hold",
    TAG,
    response=responses.Hold,
    response_example=examples.dump(examples.HOLD),
    errors=("HoldNotFound",),
    description="A hold made by a Completed transaction's Hold operation (its id is that"
    " operation's holdId). Another project's hold answers 404 HoldNotFound.",
)
LIST_HOLDS = Endpoint(
    "listHolds",
    list_holds,
    "List a project's holds",
    TAG,
    response=responses.HoldPage,
    response_example=examples.page([examples.HOLD], cursor=True),
    query=HoldQuery,
    errors=("WalletNotFound",),  # a customer key's walletId of another customer
    description="Newest first unless order=asc, by the time each hold was made; from and to"
    " filter on that time. walletId keeps the holds on that wallet (their `from`; a wallet"
    " of no hold, or of no wallet of the project, lists nothing), status those in that status."
    " For deep pages pass the nextCursor of the previous page as cursor (with the same"
    " filters). An unknown query parameter is a 400. A customer key lists only with walletId of"
    " one of its customer's wallets (another wallet: 404 WalletNotFound; none: 403 Forbidden).",
)
