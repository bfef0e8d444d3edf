"""A check the integration tests run on every reply: the status is one the route documents,
a success body is the route's response model, and an error body carries a code the route
documents for that status. So each test of a behaviour also tests the OpenAPI document."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.openapi.endpoint import ERROR_STATUS, Route
from gateway.routes import ROUTES


@dataclass(frozen=True)
class _Matcher:
    route: Route
    pattern: re.Pattern[str]


_MATCHERS = [
    _Matcher(route, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route.path) + "$"))
    for route in ROUTES
]


def route_of(method: str, path: str) -> Route | None:
    """The route serving `method` on `path` (a raw path, query string removed)."""
    for matcher in _MATCHERS:
        if matcher.route.method == method and matcher.pattern.match(path):
            return matcher.route
    return None


def check_reply(method: str, path: str, status: int, body: Any) -> None:
    """Raise AssertionError unless the reply is one the document describes."""
    path = path.split("?", 1)[0]
    route = route_of(method, path)
    if route is None:
        _check_unrouted(method, path, status, body)
        return
    operation = route.endpoint
    if status in (operation.status, operation.also_status):
        if operation.response is not None and "json" in operation.media_type:
            operation.response.model_validate(body)
        return
    codes = route.error_codes()
    assert isinstance(body, dict) and "error" in body, f"{method} {path}: {status} {body}"
    code = body["error"]["code"]
    assert code in codes, f"{method} {path}: code {code} is not documented ({codes})"
    assert ERROR_STATUS[code] == status, f"{method} {path}: {code} with status {status}"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def _check_unrouted(method: str, path: str, status: int, body: Any) -> None:
    path_known = any(matcher.pattern.match(path) for matcher in _MATCHERS)
    expected = (405, "MethodNotAllowed") if path_known else (404, "RouteNotFound")
    assert (status, body["error"]["code"]) == expected, f"{method} {path}: {status} {body}"
