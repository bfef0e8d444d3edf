"""Projects: create, list, details with assets, rename."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE, TENANT_ID
from gateway.http import json_response, read_model
from gateway.listing import read_page
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint, Link
from gateway.query_strings import PageQuery
from gateway.representations import page_items, project_from_row
from gateway.requests import CreateProject, RenameProject
from shared.errors import NotFound
from shared.ids import new_id

ASSETS_OF = "SELECT * FROM assets WHERE project_id = ANY($1::text[]) ORDER BY id"
TAG = "Projects"


async def create_project(request: web.Request) -> web.Response:
    body = await read_model(request, CreateProject)
    row = await request.app[DATABASE].fetchone(
        "INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, $3) RETURNING *",
        new_id(),
        request[TENANT_ID],
        body.name,
    )
    return json_response(project_from_row(row, []), status=201)


async def list_projects(request: web.Request) -> web.Response:
    page, page_size = read_page(request)
    database = request.app[DATABASE]
    rows = await database.fetch(
        "SELECT * FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        request[TENANT_ID],
        page_size + 1,
        (page - 1) * page_size,
    )
    rows, has_more = page_items(rows, page_size)
    assets = await database.fetch(ASSETS_OF, [row["id"] for row in rows])
    items = [
        project_from_row(row, [asset for asset in assets if asset["project_id"] == row["id"]])
        for row in rows
    ]
    return json_response(
        responses.ProjectPage(items=items, page=page, page_size=page_size, has_more=has_more)
    )


async def get_project(request: web.Request) -> web.Response:
    return json_response(await _project(request))


async def rename_project(request: web.Request) -> web.Response:
    body = await read_model(request, RenameProject)
    if body.name is not None:
        await request.app[DATABASE].fetchrow(
            "UPDATE projects SET name = $2 WHERE id = $1 RETURNING id",
            request.match_info["projectId"],
            body.name,
        )
    return json_response(await _project(request))


async def _project(request: web.Request) -> responses.Project:
    project_id = request.match_info["projectId"]
    database = request.app[DATABASE]
    row = await database.fetchrow("SELECT * FROM projects WHERE id = $1", project_id)
    if row is None:
        raise NotFound(f"project {project_id} not found", code="ProjectNotFound")
    return project_from_row(row, await database.fetch(ASSETS_OF, [project_id]))


_PROJECT = {"projectId": "$response.body#/id"}
CREATE_PROJECT = Endpoint(
    "createProject",
    create_project,
    "Create a project",
    TAG,
    status=201,
    response=responses.Project,
    response_example=examples.dump(examples.PROJECT.model_copy(update={"assets": []})),
    body=CreateProject,
    body_example={"name": "Loyalty"},
    description="A project holds assets, customers, wallets and transactions; it belongs to"
    " the tenant of the API key.",
    links=(
        Link("GetProject", "getProject", _PROJECT),
        Link("RenameProject", "renameProject", _PROJECT),
        Link("CreateAsset", "createAsset", _PROJECT),
        Link("ListAssets", "listAssets", _PROJECT),
        Link("UpsertCustomer", "upsertCustomer", _PROJECT),
        Link("ListCustomers", "listCustomers", _PROJECT),
        Link("ListSystemWallets", "listSystemWallets", _PROJECT),
        Link("ListWallets", "listWallets", _PROJECT),
        Link("ListTransactions", "listTransactions", _PROJECT),
    ),
)
LIST_PROJECTS = Endpoint(
    "listProjects",
    list_projects,
    "List the tenant's projects",
    TAG,
    response=responses.ProjectPage,
    response_example=examples.page([examples.PROJECT]),
    query=PageQuery,
    description="The tenant's projects in id order (the order they were made), each with its"
    " assets; paged by page and pageSize.",
)
GET_PROJECT = Endpoint(
    "getProject",
    get_project,
    "A project with its assets",
    TAG,
    response=responses.Project,
    response_example=examples.dump(examples.PROJECT),
    description="The project with its assets. Another tenant's project answers 404 ProjectNotFound,"
    " exactly like a missing one.",
)
RENAME_PROJECT = Endpoint(
    "renameProject",
    rename_project,
    "Rename a project",
    TAG,
    response=responses.Project,
    response_example=examples.dump(examples.PROJECT),
    body=RenameProject,
    body_required=False,
    body_example={"name": "Loyalty"},
    description="An empty body (or `{}`) changes nothing and answers the project.",
)
