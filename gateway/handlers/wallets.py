"""Wallets: open a customer wallet or a system wallet, read a wallet with its balance."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.http import json_response, page_params, read_model
from gateway.keys import DATABASE, SETTINGS
from gateway.models import OpenSystemWallet, OpenWallet
from gateway.views import page_view, wallet_view
from shared.database import Connection
from shared.errors import Conflict, NotFound
from shared.ids import new_id

INSERT_WALLET = """
INSERT INTO wallets (id, project_id, asset_id, customer_id, type, name, description)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *
"""


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
        row = await _insert(
            connection,
            project_id,
            body.asset_id,
            body.customer_id,
            "customer",
            body.name,
            body.description,
        )
    return json_response(wallet_view(row), status=201)


async def open_system_wallet(request: web.Request) -> web.Response:
    body = await read_model(request, OpenSystemWallet)
    async with request.app[DATABASE].transaction() as connection:
        row = await _insert(
            connection,
            request.match_info["projectId"],
            body.asset_id,
            None,
            "system",
            body.name,
            body.description,
        )
    return json_response(wallet_view(row), status=201)


async def list_system_wallets(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    page, page_size = page_params(
        request, page_size_default=settings.page_size_default, page_size_max=settings.page_size_max
    )
    rows = await request.app[DATABASE].fetch(
        "SELECT * FROM wallets WHERE project_id = $1 AND type = 'system'"
        " ORDER BY id LIMIT $2 OFFSET $3",
        request.match_info["projectId"],
        page_size + 1,
        (page - 1) * page_size,
    )
    return json_response(page_view([wallet_view(row) for row in rows], page, page_size))


async def get_wallet(request: web.Request) -> web.Response:
    wallet_id = request.match_info["walletId"]
    row = await request.app[DATABASE].fetchrow(
        "SELECT * FROM wallets WHERE id = $1 AND project_id = $2",
        wallet_id,
        request.match_info["projectId"],
    )
    if row is None:
        raise NotFound(f"wallet {wallet_id} not found", code="WalletNotFound")
    return json_response(wallet_view(row))


async def _insert(
    connection: Connection,
    project_id: str,
    asset_id: str,
    customer_id: str | None,
    wallet_type: str,
    name: str,
    description: str,
) -> asyncpg.Record:
    try:
        row = await connection.fetchrow(
            INSERT_WALLET,
            new_id(),
            project_id,
            asset_id,
            customer_id,
            wallet_type,
            name,
            description,
        )
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(f"asset {asset_id} not found", code="AssetNotFound") from None
    if row is None:
        raise NotFound(f"asset {asset_id} not found", code="AssetNotFound")
    return row
