"""A wallet's ledger: its entries, newest first (or oldest first), by page or by cursor.

Entries are ordered by their id, the order in which they were posted; the cursor is the id
of the last entry of a page, a bound on the `entries_wallet (wallet_id, id)` index, so a
deep page costs what the first one does. `from`/`to` filter on the time of posting."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.handlers.wallets import found_wallet
from gateway.http import json_response
from gateway.listing import NUMBER_KEY, decode_cursor, encode_cursor, read_ledger_query
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import LedgerQuery
from gateway.representations import entry_from_row, page_items

ENTRY_ID_MAX = 2**63 - 1
_WINDOW = """
SELECT * FROM entries
WHERE wallet_id = $1
  AND created_at >= coalesce($2::timestamptz, '-infinity')
  AND created_at < coalesce($3::timestamptz, 'infinity')
"""
NEWEST_FIRST = _WINDOW + "AND id < $4 ORDER BY id DESC LIMIT $5 OFFSET $6"
OLDEST_FIRST = _WINDOW + "AND id > $4 ORDER BY id ASC LIMIT $5 OFFSET $6"


async def list_entries(request: web.Request) -> web.Response:
    query, page_size = read_ledger_query(request, LedgerQuery)
    wallet_id, project_id = request.match_info["walletId"], request.match_info["projectId"]
    database = request.app[DATABASE]
    found_wallet(
        request,
        await database.fetchrow(
            "SELECT id FROM wallets WHERE id = $1 AND project_id = $2", wallet_id, project_id
        ),
    )
    newest_first = query.order == "desc"
    after = _after(query, newest_first)
    rows = await database.fetch(
        NEWEST_FIRST if newest_first else OLDEST_FIRST,
        wallet_id,
        *query.window(),
        after,
        page_size + 1,
        (query.page - 1) * page_size,
    )
    rows, has_more = page_items(rows, page_size)
    next_cursor = encode_cursor("e", str(rows[-1]["id"])) if has_more else None
    page = responses.EntryPage(
        items=[entry_from_row(row) for row in rows],
        page=query.page,
        page_size=page_size,
        has_more=has_more,
        next_cursor=next_cursor,
    )
    return json_response(page)


def _after(query: LedgerQuery, newest_first: bool) -> int:
    """The id the page starts after: the cursor's, or the end of the ledger it starts from."""
    if query.cursor is not None:
        return int(decode_cursor(query.cursor, "e", NUMBER_KEY)[0])
    return ENTRY_ID_MAX if newest_first else 0


LIST_ENTRIES = Endpoint(
    "listEntries",
    list_entries,
    "A wallet's ledger entries",
    "Wallets",
    response=responses.EntryPage,
    response_example=examples.page([examples.ENTRY], cursor=True),
    query=LedgerQuery,
    errors=("WalletNotFound",),
    description="Each entry is one line of the wallet's ledger with the balance after it."
    " Newest first unless order=asc. For deep pages pass the nextCursor of the previous page"
    " as cursor (with the same order, from and to) instead of a page number.",
)
