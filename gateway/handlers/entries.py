"""A wallet's ledger: its entries, newest first (or oldest first), by page or by cursor.

Entries are ordered by their time of posting, then their id: the order in which they were
posted, since one writer posts a wallet's entries with the instants of its batches, in order
(docs/decisions/0024-one-index-of-entries-by-wallet.md). The cursor is the time and id of the
last entry of a page, a bound on the `entries_wallet_time (wallet_id, created_at, id)` index,
so a deep page costs what the first one does. `from`/`to` filter on the time of posting."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.db import Database
from gateway.handlers.wallets import found_wallet
from gateway.http import json_response
from gateway.listing import (
    NUMBER_KEY,
    decode_cursor,
    decode_cursor_kind,
    key_moment,
    moment_id_page,
    not_a_cursor,
    page_start,
    read_ledger_query,
)
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import LedgerQuery
from gateway.representations import entry_from_row

CURSOR_KIND = "E"
# The cursor of the ledgers ordered by id, before decision 0024: still read, so that a client
# paging through a ledger across the upgrade goes on where it was.
ID_CURSOR_KIND = "e"
# A page starts after one (created_at, id) bound and stops at the window's other edge
# (gateway/listing.py, `page_start`).
NEWEST_FIRST = """
SELECT * FROM entries
WHERE wallet_id = $1 AND (created_at, id) < ($2, $3)
  AND created_at >= coalesce($4::timestamptz, '-infinity')
ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6
"""
OLDEST_FIRST = """
SELECT * FROM entries
WHERE wallet_id = $1 AND (created_at, id) > ($2, $3)
  AND created_at < coalesce($4::timestamptz, 'infinity')
ORDER BY created_at ASC, id ASC LIMIT $5 OFFSET $6
"""
ENTRY_MOMENT = "SELECT created_at FROM entries WHERE id = $1 AND wallet_id = $2"


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
    start_from, stop_at = await _bounds(database, query, wallet_id, newest_first)
    rows = await database.fetch(
        NEWEST_FIRST if newest_first else OLDEST_FIRST,
        wallet_id,
        *start_from,
        stop_at,
        page_size + 1,
        (query.page - 1) * page_size,
    )
    page = moment_id_page(responses.EntryPage, rows, query, page_size, CURSOR_KIND, entry_from_row)
    return json_response(page)


async def _bounds(
    database: Database, query: LedgerQuery, wallet_id: str, newest_first: bool
) -> tuple[tuple[datetime, int], datetime | None]:
    """The (time, id) a page starts after, and the time its window ends at (None: none)."""
    after = None if query.cursor is None else await _cursor(database, query.cursor, wallet_id)
    return page_start(query.window(), after, newest_first, lowest_id=0)


async def _cursor(database: Database, cursor: str, wallet_id: str) -> tuple[datetime, int]:
    """The (time, id) of the entry a cursor names. A cursor of the id-ordered ledger names its
    entry by id alone, whose time is read."""
    if decode_cursor_kind(cursor) == ID_CURSOR_KIND:
        entry_id = int(decode_cursor(cursor, ID_CURSOR_KIND, NUMBER_KEY)[0])
        moment = await database.fetchval(ENTRY_MOMENT, entry_id, wallet_id)
        if moment is None:
            raise not_a_cursor()
        return moment, entry_id
    moment_text, id_text = decode_cursor(cursor, CURSOR_KIND, NUMBER_KEY, NUMBER_KEY)
    return key_moment(moment_text), int(id_text)


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
