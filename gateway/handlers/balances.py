"""A wallet's balances at an instant: those its last entry made at or before the instant left
it at (each entry carries the balance and held balance after it), found in one descent of the
`entries_wallet_time (wallet_id, created_at, id)` index, however long the wallet's history
(docs/decisions/0019-search-and-filters.md). Without `at`, the wallet's balances now.

Entries carry the instant of the writer's batch, to the millisecond; `at` is compared with it
exactly. A wallet is known from its creation's millisecond on (the `createdAt` it shows): an
instant before it answers 404, as the wallet did not exist."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.handlers.wallets import found_wallet
from gateway.http import json_response, read_query
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.query_strings import BalanceQuery
from gateway.representations import balance_from_row

BALANCE_AT = """
SELECT w.id, $3::timestamptz AS at, e.balance_after AS balance, e.held_after AS held
FROM wallets w
LEFT JOIN LATERAL (
  SELECT balance_after, held_after FROM entries
  WHERE wallet_id = w.id AND created_at <= $3
  ORDER BY created_at DESC, id DESC LIMIT 1
) e ON true
WHERE w.id = $1 AND w.project_id = $2 AND date_trunc('milliseconds', w.created_at) <= $3
"""
BALANCE_NOW = """
SELECT id, date_trunc('milliseconds', now()) AS at, balance, held
FROM wallets WHERE id = $1 AND project_id = $2
"""


async def get_wallet_balance(request: web.Request) -> web.Response:
    query = read_query(request, BalanceQuery)
    wallet_id, project_id = request.match_info["walletId"], request.match_info["projectId"]
    database = request.app[DATABASE]
    at = query.instant()
    if at is None:
        row = await database.fetchrow(BALANCE_NOW, wallet_id, project_id)
    else:
        row = await database.fetchrow(BALANCE_AT, wallet_id, project_id, at)
    return json_response(balance_from_row(found_wallet(request, row)))


GET_WALLET_BALANCE = Endpoint(
    "getWalletBalance",
    get_wallet_balance,
    "A wallet's balances at an instant",
    "Wallets",
    response=responses.WalletBalance,
    response_example=examples.dump(examples.WALLET_BALANCE),
    query=BalanceQuery,
    errors=("WalletNotFound",),
    description="The balance, held balance and available balance the wallet had at `at`"
    " (epoch milliseconds): after every entry made at or before that instant. Without `at`,"
    " now. An instant before the wallet was opened answers 404 WalletNotFound. An instant"
    " still to come shows the balances so far.",
)
