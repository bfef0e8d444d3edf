"""The public routes: liveness, the OpenAPI document and the reference page built from it."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DOCS_PAGE, OPENAPI_DOCUMENT
from gateway.http import json_response
from gateway.openapi.endpoint import Endpoint

TAG = "Service"


async def health(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP (its dependencies were checked at start)."""
    return json_response(responses.Health(status="ok"))


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type="application/json")


async def docs(request: web.Request) -> web.Response:
    return web.Response(body=request.app[DOCS_PAGE], content_type="text/html", charset="utf-8")


HEALTH = Endpoint(
    "health",
    health,
    "Liveness",
    TAG,
    response=responses.Health,
    response_example={"status": "ok"},
    public=True,
)
OPENAPI = Endpoint(
    "openapi",
    openapi_document,
    "This OpenAPI 3.1 document",
    TAG,
    response_example={"openapi": "3.1.0", "paths": {}},
    public=True,
)
DOCS = Endpoint(
    "docs",
    docs,
    "The API reference as a web page",
    TAG,
    media_type="text/html",
    response_example="<!doctype html>...",
    public=True,
)
