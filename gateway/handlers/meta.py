"""The public routes: liveness, readiness, metrics, the OpenAPI document and the reference page
built from it."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DEPENDENCIES, DOCS_PAGE, METRICS, OPENAPI_DOCUMENT
from gateway.http import json_response
from gateway.openapi.endpoint import Endpoint
from shared.errors import Unavailable
from shared.metrics import CONTENT_TYPE, exposition
from shared.services import unready_message

TAG = "Service"


async def health(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP (its dependencies were checked at start)."""
    return json_response(responses.Health(status="ok"))


async def ready(request: web.Request) -> web.Response:
    """Readiness: 200 while PostgreSQL, Redis and the broker each answer within
    `ready_timeout_ms`; else 503 NotReady naming those that do not (shared/services.py)."""
    services = await request.app[DEPENDENCIES].readiness()
    missing = unready_message(services)
    if missing is not None:
        raise NotReady(missing, services)
    return json_response(responses.Ready(status="ready", services=services))


class NotReady(Unavailable):
    """503 NotReady, with each service's answer in `details.services`."""

    def __init__(self, message: str, services: dict[str, str]) -> None:
        super().__init__(message, code="NotReady")
        self.details = {"services": services}


async def metrics(request: web.Request) -> web.Response:
    """The gateway's metrics in Prometheus' text format."""
    body = exposition(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


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
    description="200 while the process serves HTTP, whatever its services answer (that is /ready).",
)
OPENAPI = Endpoint(
    "openapi",
    openapi_document,
    "This OpenAPI 3.1 document",
    TAG,
    response_example={"openapi": "3.1.0", "paths": {}},
    public=True,
    description="The OpenAPI 3.1 document of every route, generated from the same route table and"
    " models that serve and validate them.",
)
DOCS = Endpoint(
    "docs",
    docs,
    "The API reference as a web page",
    TAG,
    media_type="text/html",
    response_example="<!doctype html>...",
    public=True,
    description="The API reference as one self-contained HTML page, generated from this document.",
)
READY = Endpoint(
    "ready",
    ready,
    "Readiness: PostgreSQL, Redis and the broker answer",
    TAG,
    response=responses.Ready,
    response_example={
        "status": "ready",
        "services": {"postgresql": "ok", "redis": "ok", "rabbitmq": "ok"},
    },
    errors=("NotReady",),
    description="200 while each service answers within `ready_timeout_ms`; 503 NotReady"
    " naming each one that does not, with every service's answer in details.services.",
    public=True,
)
METRICS_TEXT = Endpoint(
    "metrics",
    metrics,
    "Metrics in Prometheus' text format",
    TAG,
    media_type="text/plain",
    response_example="# TYPE cloudwallet_http_requests_total counter",
    description="The `cloudwallet_` series of docs/operations.md.",
    public=True,
)
