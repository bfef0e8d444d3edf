"""Projects: create, list, details with assets, rename."""

from __future__ import annotations

from aiohttp import web

from gateway.http import json_response, page_params, read_model
from gateway.keys import DATABASE, SETTINGS, TENANT_ID
from gateway.models import CreateProject, Rename
from gateway.views import page_view, project_view
from shared.errors import NotFound
from shared.ids import new_id

ASSETS_OF = "SELECT * FROM assets WHERE project_id = ANY($1::text[]) ORDER BY id"


async def create_project(request: web.Request) -> web.Response:
    body = await read_model(request, CreateProject)
    row = await request.app[DATABASE].fetchone(
        "INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, $3) RETURNING *",
        new_id(),
        request[TENANT_ID],
        body.name,
    )
    return json_response(project_view(row, []), status=201)


async def list_projects(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    page, page_size = page_params(
        request, page_size_default=settings.page_size_default, page_size_max=settings.page_size_max
    )
    database = request.app[DATABASE]
    rows = await database.fetch(
        "SELECT * FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        request[TENANT_ID],
        page_size + 1,
        (page - 1) * page_size,
    )
    assets = await database.fetch(ASSETS_OF, [row["id"] for row in rows])
    items = [
        project_view(row, [asset for asset in assets if asset["project_id"] == row["id"]])
        for row in rows
    ]
    return json_response(page_view(items, page, page_size))


async def get_project(request: web.Request) -> web.Response:
    return json_response(await _project(request))


async def rename_project(request: web.Request) -> web.Response:
    body = await read_model(request, Rename)
    await request.app[DATABASE].fetchrow(
        "UPDATE projects SET name = $2 WHERE id = $1 RETURNING id",
        request.match_info["projectId"],
        body.name,
    )
    return json_response(await _project(request))


async def _project(request: web.Request) -> dict[str, object]:
    project_id = request.match_info["projectId"]
    database = request.app[DATABASE]
    row = await database.fetchrow("SELECT * FROM projects WHERE id = $1", project_id)
    if row is None:
        raise NotFound(f"project {project_id} not found", code="ProjectNotFound")
    return project_view(row, await database.fetch(ASSETS_OF, [project_id]))
