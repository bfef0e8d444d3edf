"""One error model on every route: ids of the wrong shape in the path, bad query strings and
bad bodies are a 400 naming the field, a body over the limit is a 413, unknown routes and
methods are 404/405, all in the design's JSON shape and as the OpenAPI document lists them
(tests/conformance.py checks each reply); the document and the docs page need no key."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest

from gateway.openapi.document import build_openapi
from gateway.openapi.endpoint import Route
from gateway.routes import ROUTES
from shared.settings import Settings
from tests.support import Api, Ledger, Reply

BAD_PATH_IDS = {
    "projectId": ["bad%20id", "x" * 65, "%C3%A9"],
    "assetId": ["bad%20id", "x" * 65],
    "walletId": ["bad%20id", "x" * 65],
    "transactionId": ["bad%20id", "x" * 65],
    "holdId": ["bad%20id", "x" * 65, "a.b"],
    "customerId": ["%00", "a%1Fb", "x" * 129],
    "keyId": ["bad%20id", "x" * 65],
    "webhookId": ["bad%20id", "x" * 65],
}


def fill(route: Route, ledger: Ledger, **overrides: str) -> str:
    values = {
        "projectId": ledger.project_id,
        "assetId": ledger.asset_id,
        "walletId": "01NOSUCHWALLET000000000000",
        "transactionId": "01NOSUCHTRANSACTION0000000",
        "holdId": "01NOSUCHTRANSACTION0000000-0",
        "customerId": "nobody",
        "keyId": "01NOSUCHKEY000000000000000",
        "webhookId": "01NOSUCHWEBHOOK00000000000",
    } | overrides
    return re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], route.path)


def is_validation_error(reply: Reply, field: str) -> bool:
    fields = [item["field"] for item in reply.body["error"]["details"]["fields"]]
    return (
        reply.status == 400
        and reply.body["error"]["code"] == "ValidationError"
        and (field in fields)
    )


PATH_ROUTES = [route for route in ROUTES if route.path_parameters()]


@pytest.mark.parametrize("route", PATH_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_ids_of_the_wrong_shape_are_400(ledger: Ledger, route: Route) -> None:
    for name in route.path_parameters():
        for value in BAD_PATH_IDS[name]:
            reply = await ledger.api.call(route.method, fill(route, ledger, **{name: value}))
            assert is_validation_error(reply, name), (name, value, reply.body)


QUERY_ROUTES = [route for route in ROUTES if route.endpoint.query is not None]
BAD_QUERIES = ["page=0", "page=x", "pageSize=0", "pageSize=501", "page=1&page=1", "page=%00"]


@pytest.mark.parametrize("route", QUERY_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_bad_query_strings_are_400(ledger: Ledger, route: Route) -> None:
    for query in BAD_QUERIES:
        reply = await ledger.api.call(route.method, fill(route, ledger) + "?" + query)
        assert is_validation_error(reply, query.split("=")[0]), (query, reply.body)
    # Every route with a query string refuses an unknown parameter (design section 9).
    unknown = await ledger.api.call(route.method, fill(route, ledger) + "?unknown=1")
    assert is_validation_error(unknown, "unknown"), unknown.body


BODY_ROUTES = [route for route in ROUTES if route.endpoint.body is not None]
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_bad_bodies_are_400_and_large_ones_413(
    ledger: Ledger, route: Route, migrated: Settings
) -> None:
    api, path = ledger.api, fill(route, ledger)
    for raw, headers, field in (
        (b'{"name": "x"', JSON, "body"),
        (b"[]", JSON, "body"),
        (b'"text"', JSON, "body"),
        (b"\xff\xfe", JSON, "body"),
        (b'{"amount": 1.5}', JSON, "body"),
        (b'{"n": NaN}', JSON, "body"),
        (b'{"unexpected": 1}', JSON, "unexpected"),
        (b"name=x", {"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"),
        (b'{"name": "x"}', {"Content-Type": "text/plain"}, "Content-Type"),
    ):
        reply = await api.call(route.method, path, raw=raw, headers=headers)
        assert is_validation_error(reply, field), (raw, reply.body)
    if route.endpoint.body_required:
        empty = await api.call(route.method, path, raw=b"", headers=JSON)
        assert is_validation_error(empty, "body")
    limit = migrated.request_body_bytes_max
    large = await api.call(route.method, path, raw=b" " * (limit + 1), headers=JSON)
    assert (large.status, large.body["error"]["code"]) == (413, "PayloadTooLarge")


def _matches(template: str, path: str) -> bool:
    return re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path) is not None


async def test_unknown_routes_and_wrong_methods(api: Api) -> None:
    for path in ("/", "/nope", "/projects/x/nope", "/projects/x/wallets/y/z", "/projects/"):
        reply = await api.get(path)
        assert (reply.status, reply.body["error"]["code"]) == (404, "RouteNotFound"), path
    for route in ROUTES:
        path = re.sub(r"\{\w+\}", "x", route.path)
        for method in ("PATCH", "POST", "DELETE", "PUT", "GET"):
            # Another route of this method may match the concrete path: GET .../transactions/batch
            # reads the transaction whose id is "batch".
            if any(r.method == method and _matches(r.path, path) for r in ROUTES):
                continue
            reply = await api.call(method, path)
            assert (reply.status, reply.body["error"]["code"]) == (405, "MethodNotAllowed")
            assert route.method in reply.headers["Allow"]


async def test_the_document_and_the_page_are_public(
    gateway_url: str, http_session: aiohttp.ClientSession, migrated: Settings
) -> None:
    async with http_session.get(gateway_url + "/openapi.json") as response:
        assert response.status == 200 and response.content_type == "application/json"
        document = json.loads(await response.read())
    assert document == json.loads(json.dumps(build_openapi(ROUTES, migrated)))
    async with http_session.get(gateway_url + "/docs") as response:
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
    assert (
        "submitTransaction" in page and "/projects/{projectId}/wallets/{walletId}/entries" in page
    )
    async with http_session.get(gateway_url + "/health") as response:
        assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_every_route_but_the_public_ones_needs_a_key(ledger: Ledger) -> None:
    api = ledger.api
    wrong = api.api_key[:-2] + ("AA" if not api.api_key.endswith("AA") else "BB")
    for route in ROUTES:
        path = fill(route, ledger)
        for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"X-Api-Key": wrong}):
            url = api.base_url + path
            async with api.session.request(route.method, url, headers=headers) as response:
                if route.endpoint.public:
                    # The token endpoint authenticates its client itself (RFC 6749 errors).
                    expected = 400 if route.path == "/oauth/token" else 200
                    assert response.status == expected, route.path
                    continue
                body = await response.json()
            assert (response.status, body["error"]["code"]) == (401, "Unauthorized"), path
