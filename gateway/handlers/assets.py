"""Assets of a project: create (code unique in the project), list, details, rename, and
delete while no wallet of the asset exists. Also served under `/currencies/{assetId}`."""

from __future__ import annotations

import dataclasses

import asyncpg
from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.http import json_response, read_model
from gateway.listing import read_page
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint, Link
from gateway.query_strings import PageQuery
from gateway.representations import asset_from_row, page_items, totals_from_row
from gateway.requests import CreateAsset, Rename
from shared.errors import Conflict, NotFound
from shared.ids import new_id

TAG = "Assets"


async def create_asset(request: web.Request) -> web.Response:
    body = await read_model(request, CreateAsset)
    try:
        row = await request.app[DATABASE].fetchone(
            "INSERT INTO assets (id, project_id, name, code, fractions)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING *",
            new_id(),
            request.match_info["projectId"],
            body.name,
            body.code,
            body.fractions,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            f"asset code {body.code} is taken in this project",
            code="AssetCodeTaken",
            details={"code": body.code},
        ) from None
    return json_response(asset_from_row(row), status=201)


async def list_assets(request: web.Request) -> web.Response:
    page, page_size = read_page(request)
    rows = await request.app[DATABASE].fetch(
        "SELECT * FROM assets WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        request.match_info["projectId"],
        page_size + 1,
        (page - 1) * page_size,
    )
    rows, has_more = page_items(rows, page_size)
    items = [asset_from_row(row) for row in rows]
    return json_response(
        responses.AssetPage(items=items, page=page, page_size=page_size, has_more=has_more)
    )


async def get_asset(request: web.Request) -> web.Response:
    row = await request.app[DATABASE].fetchrow(
        "SELECT * FROM assets WHERE id = $1 AND project_id = $2",
        request.match_info["assetId"],
        request.match_info["projectId"],
    )
    return json_response(asset_from_row(_found(request, row)))


async def rename_asset(request: web.Request) -> web.Response:
    body = await read_model(request, Rename)
    row = await request.app[DATABASE].fetchrow(
        "UPDATE assets SET name = $3 WHERE id = $1 AND project_id = $2 RETURNING *",
        request.match_info["assetId"],
        request.match_info["projectId"],
        body.name,
    )
    return json_response(asset_from_row(_found(request, row)))


async def delete_asset(request: web.Request) -> web.Response:
    """The asset row is locked before wallets are counted; opening a wallet takes a share
    lock on the same row (the foreign key), so the two cannot interleave. The foreign key
    would refuse the delete anyway."""
    asset_id, project_id = request.match_info["assetId"], request.match_info["projectId"]
    async with request.app[DATABASE].transaction() as connection:
        row = await connection.fetchrow(
            "SELECT id FROM assets WHERE id = $1 AND project_id = $2 FOR UPDATE",
            asset_id,
            project_id,
        )
        _found(request, row)
        wallet_count = await connection.fetchval(
            "SELECT count(*) FROM wallets WHERE asset_id = $1", asset_id
        )
        if wallet_count:
            raise _in_use(asset_id, wallet_count)
        try:
            await connection.execute(
                "WITH totals AS (DELETE FROM asset_totals WHERE asset_id = $1)"
                " DELETE FROM assets WHERE id = $1",
                asset_id,
            )
        except asyncpg.ForeignKeyViolationError:
            raise _in_use(asset_id, 1) from None
    return web.Response(status=204)


async def get_asset_totals(request: web.Request) -> web.Response:
    row = await request.app[DATABASE].fetchrow(
        "SELECT a.id, t.issued, t.redeemed, t.held, t.wallet_count"
        " FROM assets a LEFT JOIN asset_totals t ON t.asset_id = a.id"
        " WHERE a.id = $1 AND a.project_id = $2",
        request.match_info["assetId"],
        request.match_info["projectId"],
    )
    return json_response(totals_from_row(_found(request, row)))


def _in_use(asset_id: str, wallet_count: int) -> Conflict:
    return Conflict(
        f"asset {asset_id} has wallets and cannot be deleted",
        code="AssetInUse",
        details={"walletCount": wallet_count},
    )


def _found(request: web.Request, row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        asset_id = request.match_info["assetId"]
        raise NotFound(f"asset {asset_id} not found", code="AssetNotFound")
    return row


_ASSET = {"projectId": "$request.path.projectId", "assetId": "$response.body#/id"}
CREATE_ASSET = Endpoint(
    "createAsset",
    create_asset,
    "Create an asset",
    TAG,
    status=201,
    response=responses.Asset,
    response_example=examples.dump(examples.ASSET),
    body=CreateAsset,
    body_example={"name": "Points", "code": "PTS", "fractions": 100},
    errors=("AssetCodeTaken",),
    links=(
        Link("GetAsset", "getAsset", _ASSET),
        Link("GetCurrency", "getCurrency", _ASSET),
        Link("RenameAsset", "renameAsset", _ASSET),
        Link("DeleteAsset", "deleteAsset", _ASSET),
        Link("GetAssetTotals", "getAssetTotals", _ASSET),
        Link("RenameCurrency", "renameCurrency", _ASSET),
        Link("DeleteCurrency", "deleteCurrency", _ASSET),
        Link(
            "OpenSystemWallet",
            "openSystemWallet",
            {"projectId": "$request.path.projectId"},
            {"assetId": "$response.body#/id"},
        ),
    ),
    description="An asset counts in integer smallest units: `fractions` is how many make one unit"
    " (100 for cents). `code` is unique in the project (409 AssetCodeTaken).",
)
LIST_ASSETS = Endpoint(
    "listAssets",
    list_assets,
    "List a project's assets",
    TAG,
    response=responses.AssetPage,
    response_example=examples.page([examples.ASSET]),
    query=PageQuery,
    description="The project's assets in id order (the order they were made); paged by page and"
    " pageSize.",
)
GET_ASSET = Endpoint(
    "getAsset",
    get_asset,
    "An asset",
    TAG,
    response=responses.Asset,
    response_example=examples.dump(examples.ASSET),
    errors=("AssetNotFound",),
    description="The asset's id, name, code and fractions. Also served at"
    " /projects/{projectId}/currencies/{assetId}.",
)
RENAME_ASSET = Endpoint(
    "renameAsset",
    rename_asset,
    "Rename an asset",
    TAG,
    response=responses.Asset,
    response_example=examples.dump(examples.ASSET),
    body=Rename,
    body_example={"name": "Reward points"},
    errors=("AssetNotFound",),
    description="Changes the name only; the code and fractions of an asset never change.",
)
DELETE_ASSET = Endpoint(
    "deleteAsset",
    delete_asset,
    "Delete an asset no wallet uses",
    TAG,
    status=204,
    errors=("AssetNotFound", "AssetInUse"),
    description="Refused with 409 AssetInUse once a wallet of the asset exists (even a Closed"
    " one). The code of a deleted asset can be used again.",
)
GET_ASSET_TOTALS = Endpoint(
    "getAssetTotals",
    get_asset_totals,
    "An asset's totals: issued, redeemed, outstanding, held, wallets",
    TAG,
    response=responses.AssetTotals,
    response_example=examples.dump(examples.ASSET_TOTALS),
    errors=("AssetNotFound",),
    description="Kept up to date in the same database transaction as the postings, so a"
    " read costs the same for an asset of ten wallets or ten million: outstanding = issued -"
    " redeemed = the sum of the wallets' balances (the liability of a loyalty programme), held"
    " the sum of their held balances, walletCount every wallet of the asset, system wallets and"
    " Closed wallets included.",
)
GET_CURRENCY = dataclasses.replace(GET_ASSET, operation_id="getCurrency", tag="Currencies")
RENAME_CURRENCY = dataclasses.replace(RENAME_ASSET, operation_id="renameCurrency", tag="Currencies")
DELETE_CURRENCY = dataclasses.replace(DELETE_ASSET, operation_id="deleteCurrency", tag="Currencies")
