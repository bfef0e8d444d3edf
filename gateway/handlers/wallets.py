"""Wallets: open a customer wallet or a system wallet, list system wallets, read a wallet with
its balance, rename it, change its description and replace its metadata. The project-wide,
filtered list is `gateway/handlers/wallet_list.py`, a wallet's balance at an instant
`gateway/handlers/balances.py`."""

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
from gateway.representations import page_items, wallet_from_row
from gateway.requests import (
    DescribeWallet,
    OpenSystemWallet,
    OpenWallet,
    RenameWallet,
    ReplaceMetadata,
)
from shared.database import Connection
from shared.errors import Conflict, NotFound
from shared.ids import new_id

TAG = "Wallets"
# The wallet and its asset's wallet count, in one statement (the asset's row of totals is made
# by whichever of the gateway and the writer comes first).
INSERT_WALLET = """
WITH wallet AS (
  INSERT INTO wallets (id, project_id, asset_id, customer_id, type, name, description, metadata)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *
), counted AS (
  INSERT INTO asset_totals (asset_id, project_id, wallet_count)
  SELECT asset_id, project_id, 1 FROM wallet
  ON CONFLICT (asset_id) DO UPDATE SET wallet_count = asset_totals.wallet_count + 1
)
SELECT * FROM wallet
"""
UPDATES = {
    "name": "UPDATE wallets SET name = $3, updated_at = now()"
    " WHERE id = $1 AND project_id = $2 RETURNING *",
    "description": "UPDATE wallets SET description = $3, updated_at = now()"
    " WHERE id = $1 AND project_id = $2 RETURNING *",
    "metadata": "UPDATE wallets SET metadata = $3, updated_at = now()"
    " WHERE id = $1 AND project_id = $2 RETURNING *",
}


async def open_wallet(request: web.Request) -> web.Response:
    body = await read_model(request, OpenWallet)
    project_id = request.match_info["projectId"]
    async with request.app[DATABASE].transaction() as connection:
        # FOR SHARE keeps the customer from being suspended or deleted until the wallet exists.
        status = await connection.fetchval(
            "SELECT status FROM customers WHERE project_id = $1 AND id = $2"
            " AND deleted_at IS NULL FOR SHARE",
            project_id,
            body.customer_id,
        )
        if status is None:
            raise NotFound(f"customer {body.customer_id} not found", code="CustomerNotFound")
        if status != "Active":
            raise Conflict(f"customer {body.customer_id} is suspended", code="CustomerSuspended")
        row = await _insert(connection, project_id, body.customer_id, body)
    return json_response(wallet_from_row(row), status=201)


async def open_system_wallet(request: web.Request) -> web.Response:
    body = await read_model(request, OpenSystemWallet)
    async with request.app[DATABASE].transaction() as connection:
        row = await _insert(connection, request.match_info["projectId"], None, body)
    return json_response(wallet_from_row(row), status=201)


async def list_system_wallets(request: web.Request) -> web.Response:
    page, page_size = read_page(request)
    rows = await request.app[DATABASE].fetch(
        # customer_id IS NULL: the condition of the wallets_system index, the same wallets.
        "SELECT * FROM wallets WHERE project_id = $1 AND customer_id IS NULL"
        " ORDER BY id LIMIT $2 OFFSET $3",
        request.match_info["projectId"],
        page_size + 1,
        (page - 1) * page_size,
    )
    rows, has_more = page_items(rows, page_size)
    items = [wallet_from_row(row) for row in rows]
    return json_response(
        responses.WalletPage(items=items, page=page, page_size=page_size, has_more=has_more)
    )


async def get_wallet(request: web.Request) -> web.Response:
    row = await request.app[DATABASE].fetchrow(
        "SELECT * FROM wallets WHERE id = $1 AND project_id = $2",
        request.match_info["walletId"],
        request.match_info["projectId"],
    )
    return json_response(wallet_from_row(found_wallet(request, row)))


async def rename_wallet(request: web.Request) -> web.Response:
    body = await read_model(request, RenameWallet)
    return await _update(request, "name", body.name)


async def describe_wallet(request: web.Request) -> web.Response:
    body = await read_model(request, DescribeWallet)
    return await _update(request, "description", body.description)


async def replace_wallet_metadata(request: web.Request) -> web.Response:
    body = await read_model(request, ReplaceMetadata)
    return await _update(request, "metadata", body.metadata)


async def _update(request: web.Request, column: str, value: object) -> web.Response:
    row = await request.app[DATABASE].fetchrow(
        UPDATES[column], request.match_info["walletId"], request.match_info["projectId"], value
    )
    return json_response(wallet_from_row(found_wallet(request, row)))


def found_wallet(request: web.Request, row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        wallet_id = request.match_info["walletId"]
        raise NotFound(f"wallet {wallet_id} not found", code="WalletNotFound")
    return row


async def _insert(
    connection: Connection,
    project_id: str,
    customer_id: str | None,
    body: OpenWallet | OpenSystemWallet,
) -> asyncpg.Record:
    try:
        row = await connection.fetchrow(
            INSERT_WALLET,
            new_id(),
            project_id,
            body.asset_id,
            customer_id,
            "system" if customer_id is None else "customer",
            body.name,
            body.description,
            body.metadata,
        )
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(f"asset {body.asset_id} not found", code="AssetNotFound") from None
    if row is None:
        raise NotFound(f"asset {body.asset_id} not found", code="AssetNotFound")
    return row


_WALLET = {"projectId": "$request.path.projectId", "walletId": "$response.body#/id"}
WALLET_LINKS = (
    Link("GetWallet", "getWallet", _WALLET),
    Link("RenameWallet", "renameWallet", _WALLET),
    Link("DescribeWallet", "describeWallet", _WALLET),
    Link("ChangeWalletStatus", "changeWalletStatus", _WALLET),
    Link("ListEntries", "listEntries", _WALLET),
    Link("ReplaceWalletMetadata", "replaceWalletMetadata", _WALLET),
    Link("GetWalletBalance", "getWalletBalance", _WALLET),
)
OPEN_WALLET = Endpoint(
    "openWallet",
    open_wallet,
    "Open a wallet for a customer",
    TAG,
    status=201,
    response=responses.Wallet,
    response_example=examples.dump(examples.WALLET.model_copy(update=examples.EMPTY_WALLET)),
    body=OpenWallet,
    body_example={
        "customerId": "customer-42",
        "assetId": examples.ASSET_ID,
        "name": "main",
        "metadata": {"channel": "web"},
    },
    errors=("CustomerNotFound", "CustomerSuspended", "AssetNotFound"),
    links=WALLET_LINKS,
    description="A customer wallet of one asset, Open with a balance of 0. Refused while the"
    " customer is Suspended (409 CustomerSuspended).",
)
OPEN_SYSTEM_WALLET = Endpoint(
    "openSystemWallet",
    open_system_wallet,
    "Open a system wallet",
    TAG,
    status=201,
    response=responses.Wallet,
    response_example=examples.dump(examples.SYSTEM_WALLET.model_copy(update=examples.EMPTY_WALLET)),
    body=OpenSystemWallet,
    body_example={"assetId": examples.ASSET_ID, "name": "treasury"},
    errors=("AssetNotFound",),
    description="A wallet of the project itself (a treasury, fees, a sink), with no customer.",
    links=WALLET_LINKS,
)
LIST_SYSTEM_WALLETS = Endpoint(
    "listSystemWallets",
    list_system_wallets,
    "List a project's system wallets",
    TAG,
    response=responses.WalletPage,
    response_example=examples.page([examples.SYSTEM_WALLET]),
    query=PageQuery,
    description="In id order (the order they were opened). The project-wide list"
    " (GET /projects/{projectId}/wallets?type=system) filters further.",
)
GET_WALLET = Endpoint(
    "getWallet",
    get_wallet,
    "A wallet with its balances",
    TAG,
    response=responses.Wallet,
    response_example=examples.dump(examples.WALLET),
    errors=("WalletNotFound",),
    description="The wallet with its balance, heldBalance (its Pending holds) and availableBalance"
    " (what a Transfer, Redeem or Hold may draw on).",
)
RENAME_WALLET = Endpoint(
    "renameWallet",
    rename_wallet,
    "Rename a wallet",
    TAG,
    response=responses.Wallet,
    response_example=examples.dump(examples.WALLET),
    body=RenameWallet,
    body_example={"name": "main"},
    errors=("WalletNotFound",),
    description="Changes the wallet's name (an empty name is allowed).",
)
DESCRIBE_WALLET = Endpoint(
    "describeWallet",
    describe_wallet,
    "Change a wallet's description",
    TAG,
    response=responses.Wallet,
    response_example=examples.dump(examples.WALLET),
    body=DescribeWallet,
    body_example={"description": "points earned in store"},
    errors=("WalletNotFound",),
    description="Changes the wallet's description (an empty description is allowed).",
)
REPLACE_WALLET_METADATA = Endpoint(
    "replaceWalletMetadata",
    replace_wallet_metadata,
    "Replace a wallet's metadata",
    TAG,
    response=responses.Wallet,
    response_example=examples.dump(examples.WALLET),
    body=ReplaceMetadata,
    body_example={"metadata": {"channel": "web"}},
    errors=("WalletNotFound",),
    description="The metadata given replaces the wallet's whole metadata ({} removes it all).",
)
