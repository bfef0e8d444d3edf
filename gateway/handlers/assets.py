"""Assets of a project: create (code unique in the project), list, details."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.http import json_response, page_params, read_model
from gateway.keys import DATABASE, SETTINGS
from gateway.models import CreateAsset
from gateway.views import asset_view, page_view
from shared.errors import Conflict, NotFound
from shared.ids import new_id


async def create_asset(request: web.Request) -> web.Response:
    body = await read_model(request, CreateAsset)
    project_id = request.match_info["projectId"]
    try:
        row = await request.app[DATABASE].fetchone(
            "INSERT INTO assets (id, project_id, name, code, fractions)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING *",
            new_id(),
            project_id,
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
    return json_response(asset_view(row), status=201)


async def list_assets(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    page, page_size = page_params(
        request, page_size_default=settings.page_size_default, page_size_max=settings.page_size_max
    )
    rows = await request.app[DATABASE].fetch(
        "SELECT * FROM assets WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        request.match_info["projectId"],
        page_size + 1,
        (page - 1) * page_size,
    )
    return json_response(page_view([asset_view(row) for row in rows], page, page_size))


async def get_asset(request: web.Request) -> web.Response:
    asset_id = request.match_info["assetId"]
    row = await request.app[DATABASE].fetchrow(
        "SELECT * FROM assets WHERE id = $1 AND project_id = $2",
        asset_id,
        request.match_info["projectId"],
    )
    if row is None:
        raise NotFound(f"asset {asset_id} not found", code="AssetNotFound")
    return json_response(asset_view(row))
