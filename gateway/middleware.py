"""The one place where errors become HTTP: our hierarchy, aiohttp's own HTTP exceptions and
anything unexpected all leave as the design's JSON error shape, never as a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from gateway.app_keys import (
    AUTHENTICATOR,
    DATABASE,
    ENDPOINT,
    ENDPOINTS,
    ERROR_CODE,
    PRINCIPAL,
    RATE_LIMITER,
    TENANT_ID,
)
from gateway.http import json_response
from gateway.requests import PATH_PARAMETERS
from gateway.scopes import authorize
from shared.errors import (
    ApiError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    ValidationFailed,
)

log = logging.getLogger(__name__)


def _from_http_exception(error: web.HTTPException) -> ApiError:
    if error.status == 404:
        return NotFound("no such route", code="RouteNotFound")
    if error.status == 405:
        return MethodNotAllowed("method not allowed on this route")
    if error.status == 413:
        return PayloadTooLarge("the request body is too large")
    translated = ApiError(error.reason, code=error.reason.replace(" ", ""))
    translated.status = error.status
    return translated


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        request[ERROR_CODE] = error.code
        headers = None
        if isinstance(error, Unavailable):
            headers = {"Retry-After": str(error.retry_after_s)}
        return json_response(error.body(), status=error.status, headers=headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        translated = _from_http_exception(error)
        request[ERROR_CODE] = translated.code
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return json_response(translated.body(), status=translated.status, headers=headers)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        request[ERROR_CODE] = "InternalError"
        return json_response(
            {"error": {"code": "InternalError", "message": "an internal error occurred"}},
            status=500,
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the route first (unknown routes answer 404/405), then require a valid key (or
    access token) within its rate limit, ids of the right shape in the path, a scope that
    allows the route (gateway/scopes.py) and, for project routes, a project of the key's
    tenant."""
    route_error = request.match_info.http_exception
    if route_error is not None:
        raise route_error
    route = request.match_info.route
    endpoint = request.app[ENDPOINTS][(route.method, route.resource.canonical)]  # type: ignore[union-attr]
    request[ENDPOINT] = endpoint
    if endpoint.public:
        return await handler(request)
    authenticator = request.app[AUTHENTICATOR]
    principal = await authenticator.principal_of(request)
    request[PRINCIPAL] = principal
    request[TENANT_ID] = tenant_id = principal.tenant_id
    await request.app[RATE_LIMITER].admit(request, principal)
    check_path_ids(request.match_info)
    await authorize(request, endpoint.operation_id, principal, request.app[DATABASE])
    project_id = request.match_info.get("projectId")
    if project_id is not None:
        await authenticator.check_project(tenant_id, project_id)
    return await handler(request)


def check_path_ids(match_info: Mapping[str, str]) -> None:
    """400 naming every id in the path that is not of the right shape (before any of them
    reaches the database)."""
    fields: list[dict[str, str]] = []
    for name, value in match_info.items():
        try:
            PATH_PARAMETERS[name].validate_python(value)
        except ValidationError as error:
            fields.extend(
                {"field": name, "message": item["msg"]} for item in error.errors(include_url=False)
            )
    if fields:
        raise ValidationFailed("the path is not valid", details={"fields": fields})
