"""The OpenAPI 3.1 document, generated from the route table: the paths and methods the router
serves, and the JSON schemas of the very pydantic models that validate the requests and
serialize the responses. Limits come from the settings the gateway runs with."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.openapi.endpoint import ERROR_STATUS, Route
from gateway.requests import PATH_PARAMETERS
from gateway.responses import ErrorBody, OAuthError
from shared.settings import Settings

REF = "#/components/schemas/{model}"
SECURITY: list[dict[str, list[str]]] = [
    {"bearerAuth": []},
    {"apiKeyAuth": []},
    {"oauth2ClientCredentials": []},
]
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "Bearer <API key>, or Bearer <access token> from /oauth/token",
    },
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
    "oauth2ClientCredentials": {
        "type": "oauth2",
        "description": "RFC 6749 section 4.4: an OAuth2 client (a key made with"
        " oauthClient: true) trades its id and secret for a Bearer access token.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {
                    "full": "everything the tenant may do",
                    "read": "only reads (GET), not the keys",
                    "customer": "only the reads of the client's own customer",
                },
            }
        },
    },
}
# On every answer to an authenticated request (gateway/rate_limits.py).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {
        "description": "requests the key may make at once (its burst)",
        "schema": {"type": "integer"},
    },
    "RateLimit-Remaining": {
        "description": "requests left in the key's bucket",
        "schema": {"type": "integer"},
    },
    "RateLimit-Reset": {
        "description": "seconds until the key's bucket is full again",
        "schema": {"type": "integer"},
    },
}
# Every tag an endpoint names, in the order the docs page shows them.
TAGS = {
    "Projects": "A tenant's projects: each holds its own assets, customers, wallets and ledger.",
    "Assets": "What a project counts (points, cents, hours), in integer smallest units, and"
    " each asset's totals.",
    "Currencies": "The assets again, at the paths of the Cloud Wallet API that call them"
    " currencies.",
    "Customers": "The caller's own customers (by the caller's id), their status and their wallets.",
    "Wallets": "Customer and system wallets: balances, status, metadata, balances in time and"
    " the ledger entries.",
    "Transactions": "Atomic transactions of Transfer, Issue, Redeem, Hold, Capture and Void"
    " operations: submitted (202), then read until Completed or Failed; reversals.",
    "Holds": "Value reserved by a Hold operation until a Capture, a Void or its expiry.",
    "Keys": "The tenant's API keys: full, read and customer scopes, OAuth2 clients.",
    "OAuth2": "Access tokens for OAuth2 clients (client credentials).",
    "Webhooks": "Endpoints a project's events are delivered to, signed (Standard Webhooks), and"
    " the log of their deliveries.",
    "Service": "Liveness, readiness, metrics and this document.",
}
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "The request is not valid (details.fields names the offending fields)",
    401: "A valid API key or access token is required",
    403: "The key's scope does not allow this route",
    404: "Not found (another tenant's resources answer exactly like missing ones)",
    409: "The request conflicts with the current state",
    413: "The request body is too large",
    415: "The body declares a charset other than UTF-8",
    429: "The key's rate limit (RateLimited), too many requests in progress, or failed"
    " authentications from this address; retry after Retry-After seconds",
    503: "A dependency is unavailable; retry after Retry-After seconds",
}


def build_openapi(routes: Iterable[Route], settings: Settings) -> dict[str, Any]:
    """The document for `routes`, as the gateway with `settings` serves them."""
    routes = list(routes)
    models = _models(routes)
    refs, definitions = models_json_schema(
        models, by_alias=True, ref_template=REF, title="cloudwallet"
    )
    schemas = definitions.get("$defs", {}) | {"ErrorCode": ERROR_CODE}
    schemas["ErrorDetail"]["properties"]["code"] = {"$ref": REF.format(model="ErrorCode")}
    answered = _reachable(schemas, [refs[key] for key in models if key[1] == "serialization"])
    submitted = _reachable(schemas, [refs[key] for key in models if key[1] == "validation"])
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = _operation(route, refs, settings)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": _info(settings),
        "servers": [{"url": "/"}],
        "security": SECURITY,
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": _with_limits(_for_generators(schemas, answered - submitted), settings),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _info(settings: Settings) -> dict[str, Any]:
    contact = {"name": settings.api_contact_name}
    if settings.api_contact_url:
        contact["url"] = settings.api_contact_url
    if settings.api_contact_email:
        contact["email"] = settings.api_contact_email
    return {
        "title": "cloudwallet",
        "version": "1",
        "description": "Wallets and a double-entry ledger: the Cloud Wallet API. A number"
        " in a request body is an integer written without a fraction or an exponent"
        " (100, not 100.0 or 1e2): JSON Schema counts 100.0 as an integer, the API refuses it.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        "contact": contact,
    }


ERROR_CODE = {
    "title": "ErrorCode",
    "type": "string",
    "enum": list(ERROR_STATUS),
    "description": "stable, machine-readable; each error response lists the codes its operation"
    " gives in `x-error-codes`",
}


def _reachable(schemas: dict[str, Any], roots: list[dict[str, Any]]) -> set[str]:
    """The names of the component schemas `roots` refer to, directly or through others."""
    found: set[str] = set()
    pending: list[Any] = list(roots)
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF.format(model="")):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    pending.append(schemas[name])
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _for_generators(schemas: dict[str, Any], answer_only: set[str]) -> dict[str, Any]:
    """Schemas as client generators read them (docs/decisions/0023-clients.md): no property
    has a `default` (openapi-typescript makes such a property required), the default said in
    its description instead; and a property an answer leaves out rather than writing null
    (`exclude_if`) is optional without a null branch."""
    for name, schema in schemas.items():
        required = set(schema.get("required", ()))
        for property_name, property_schema in schema.get("properties", {}).items():
            if "default" not in property_schema:
                continue
            default = property_schema.pop("default")
            if name in answer_only and default is None and property_name not in required:
                branches = [b for b in property_schema.get("anyOf", []) if b != {"type": "null"}]
                if len(branches) == 1:
                    del property_schema["anyOf"]
                    property_schema.update(branches[0])
            elif default is not None:
                said = f"default: {json.dumps(default)}"
                text = property_schema.get("description")
                property_schema["description"] = f"{text} ({said})" if text else said
    return schemas


def _models(routes: list[Route]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    found: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ErrorBody, "serialization"): None,
        (OAuthError, "serialization"): None,
    }
    for route in routes:
        endpoint = route.endpoint
        for model, mode in ((endpoint.body, "validation"), (endpoint.response, "serialization")):
            if model is not None:
                found[(model, mode)] = None  # type: ignore[index]
    return list(found)


def _operation(route: Route, refs: dict[Any, dict[str, Any]], settings: Settings) -> dict[str, Any]:
    endpoint = route.endpoint
    spec: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": _path_parameters(route) + _query_parameters(route, settings),
        "responses": _success(route, refs) | _errors(route),
    }
    if endpoint.description:
        spec["description"] = endpoint.description
    if endpoint.public:
        spec["security"] = []
    else:
        for status, response in spec["responses"].items():
            if status != "401":  # no key was found to count against
                response["headers"] = response.get("headers", {}) | RATE_LIMIT_HEADERS
    if endpoint.body is not None:
        media: dict[str, Any] = {"schema": refs[(endpoint.body, "validation")]}
        if endpoint.body_examples:
            # OpenAPI takes either one `example` or named `examples`, not both.
            first = {"summary": "Example", "value": endpoint.body_example}
            media["examples"] = {"default": first, **endpoint.body_examples}
        else:
            media["example"] = endpoint.body_example
        spec["requestBody"] = {
            "required": endpoint.body_required,
            "content": {"application/json": media},
        }
    for name, value in endpoint.openapi_extra.items():
        spec[name] = spec.get(name, {}) | value if isinstance(value, dict) else value
    return spec


def body_examples(media: dict[str, Any]) -> list[Any]:
    """Every request body example of an operation's media type, `example` or `examples`."""
    if "examples" in media:
        return [example["value"] for example in media["examples"].values()]
    return [media["example"]]


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    parameters = []
    for name in route.path_parameters():
        schema = PATH_PARAMETERS[name].json_schema()
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": schema,
                "example": schema["examples"][0],
            }
        )
    return parameters


def _query_parameters(route: Route, settings: Settings) -> list[dict[str, Any]]:
    if route.endpoint.query is None:
        return []
    schema = route.endpoint.query.model_json_schema(by_alias=True)
    parameters = []
    for name, property_schema in schema["properties"].items():
        plain = _without_null(property_schema)
        plain.pop("title", None)
        if name == "pageSize":
            plain |= {"maximum": settings.page_size_max, "default": settings.page_size_default}
        description = plain.pop("description", "")
        parameters.append(
            {"name": name, "in": "query", "required": False, "schema": plain}
            | ({"description": description} if description else {})
            # metadata[key]=value: an object written as one parameter per key.
            | ({"style": "deepObject", "explode": True} if plain.get("type") == "object" else {})
        )
    return parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is absent, never null: drop the null branch."""
    branches = [item for item in schema.get("anyOf", []) if item != {"type": "null"}]
    if len(branches) == 1 and "anyOf" in schema:
        rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
        return dict(branches[0]) | rest
    return dict(schema)


def _success(route: Route, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    endpoint = route.endpoint
    response: dict[str, Any] = {"description": STATUS_TEXT.get(endpoint.status, "OK")}
    if endpoint.status != 204:
        schema = {"type": "object" if "json" in endpoint.media_type else "string"}
        if endpoint.response is not None:
            schema = refs[(endpoint.response, "serialization")]
        content = {"schema": schema}
        if endpoint.response_example is not None:
            content["example"] = endpoint.response_example
        response["content"] = {endpoint.media_type: content}
    if endpoint.response_headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in endpoint.response_headers.items()
        }
    if endpoint.links:
        response["links"] = {
            link.name: {"operationId": link.operation_id, "parameters": dict(link.parameters)}
            | ({"requestBody": dict(link.request_body)} if link.request_body else {})
            for link in endpoint.links
        }
    responses = {str(endpoint.status): response}
    if endpoint.also_status is not None:
        updated = {key: value for key, value in response.items() if key != "links"}
        responses[str(endpoint.also_status)] = updated | {"description": "Updated"}
    return responses


def _errors(route: Route) -> dict[str, Any]:
    """One response per error status, with the codes the route gives."""
    by_status: dict[int, list[str]] = {}
    for code in route.error_codes():
        by_status.setdefault(ERROR_STATUS[code], []).append(code)
    responses = {}
    for status, codes in sorted(by_status.items()):
        # One error schema for every answer, so that a generator makes one error model; the
        # codes of this operation and status are listed beside it (x-error-codes).
        schema = {"$ref": REF.format(model="ErrorBody")}
        example = {"error": {"code": codes[0], "message": STATUS_TEXT[status]}}
        content = {"application/json": {"schema": schema, "example": example}}
        response: dict[str, Any] = {
            "description": STATUS_TEXT[status],
            "content": content,
            "x-error-codes": codes,
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        responses[str(status)] = response
    return responses


def _with_limits(definitions: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The limits the settings put on a submitted transaction."""
    for name, definition in definitions.items():
        properties = definition.get("properties", {})
        if name == "SubmitTransactionBatch":
            properties["transactions"]["maxItems"] = settings.transactions_per_batch_max
        elif name.startswith("SubmitTransaction"):
            properties["referenceId"]["maxLength"] = settings.reference_id_length_max
            properties["operations"]["maxItems"] = settings.operations_per_transaction_max
    return definitions
