"""Projects: create, list, details with assets, rename."""

from __future__ import annotations

from aiohttp import web

from gateway import examples, schemas
from gateway.http import json_response, read_model
from gateway.keys import DATABASE, TENANT_ID
from gateway.listing import read_page
from gateway.models import CreateProject, Rename
from gateway.operation import Link, Operation
from gateway.queries import PageQuery
from gateway.views import page_items, project_view
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
    return json_response(project_view(row, []), status=201)


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
        project_view(row, [asset for asset in assets if asset["project_id"] == row["id"]])
        for row in rows
    ]
    return json_response(
        schemas.ProjectPage(items=items, page=page, page_size=page_size, has_more=has_more)
    )


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


async def _project(request: web.Request) -> schemas.Project:
    project_id = request.match_info["projectId"]
    database = request.app[DATABASE]
    row = await database.fetchrow("SELECT * FROM projects WHERE id = $1", project_id)
    if row is None:
        raise NotFound(f"project {project_id} not found", code="ProjectNotFound")
    return project_view(row, await database.fetch(ASSETS_OF, [project_id]))


_PROJECT = {"projectId": "$response.body#/id"}
CREATE_PROJECT = Operation(
    "createProject",
    create_project,
    "Create a project",
    TAG,
    status=201,
    response=schemas.Project,
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
        Link("ListTransactions", "listTransactions", _PROJECT),
    ),
)
LIST_PROJECTS = Operation(
    "listProjects",
    list_projects,
    "List the tenant's projects",
    TAG,
    response=schemas.ProjectPage,
    response_example=examples.page([examples.PROJECT]),
    query=PageQuery,
)
GET_PROJECT = Operation(
    "getProject",
    get_project,
    "A project with its assets",
    TAG,
    response=schemas.Project,
    response_example=examples.dump(examples.PROJECT),
)
RENAME_PROJECT = Operation(
    "renameProject",
    rename_project,
    "Rename a project",
    TAG,
    response=schemas.Project,
    response_example=examples.dump(examples.PROJECT),
    body=Rename,
    body_example={"name": "Loyalty"},
)
