"""API keys over HTTP (design section 10): a full key creates, lists and revokes its tenant's
keys. A new key's secret is in the creation's answer only; a revoked key answers 401 on this
gateway at once and on every other within a second (the notice travels by Redis pub/sub)."""

from __future__ import annotations

import logging

from aiohttp import web

from gateway import responses
from gateway.app_keys import AUTHENTICATOR, DATABASE, KEY_NOTICES, TENANT_ID
from gateway.http import json_response, read_model
from gateway.listing import read_page
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint, Link
from gateway.query_strings import PageQuery
from gateway.representations import page_items
from gateway.requests import CreateKey
from shared.access import keystore
from shared.access.keystore import KeySpec, Scope, StoredKey
from shared.errors import CacheUnavailable, NotFound

log = logging.getLogger(__name__)
TAG = "Keys"
CUSTOMER_OF_TENANT = """
SELECT 1 FROM customers c JOIN projects p ON p.id = c.project_id
WHERE c.project_id = $1 AND c.id = $2 AND p.tenant_id = $3
"""
PROJECT_OF_TENANT = "SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2"


def key_out(key: StoredKey) -> responses.Key:
    return responses.Key(
        id=key.id,
        name=key.name,
        scope=key.scope.value,
        project_id=key.project_id,
        customer_id=key.customer_id,
        expires_at=key.expires_at,
        oauth_client=key.oauth_client,
        rate_limit_per_s=key.rate_limit_per_s,
        rate_limit_burst=key.rate_limit_burst,
        created_at=key.created_at,
    )


async def create_key(request: web.Request) -> web.Response:
    body = await read_model(request, CreateKey)
    database, tenant_id = request.app[DATABASE], request[TENANT_ID]
    if body.project_id is not None:
        await _check_customer(request, body.project_id, body.customer_id or "")
    stored, secret = await keystore.create_key(
        database,
        tenant_id,
        KeySpec(
            name=body.name,
            scope=Scope(body.scope),
            project_id=body.project_id,
            customer_id=body.customer_id,
            expires_at=body.expires_at,
            oauth_client=body.oauth_client,
            rate_limit_per_s=body.rate_limit_per_s,
            rate_limit_burst=body.rate_limit_burst,
        ),
    )
    request.app[AUTHENTICATOR].remember(stored)
    created = responses.CreatedKey(**key_out(stored).model_dump(), secret=secret)
    return json_response(created, status=201)


async def _check_customer(request: web.Request, project_id: str, customer_id: str) -> None:
    """404 unless the customer key's project is the tenant's and holds the customer."""
    database, tenant_id = request.app[DATABASE], request[TENANT_ID]
    if await database.fetchval(PROJECT_OF_TENANT, project_id, tenant_id) is None:
        raise NotFound(f"project {project_id} not found", code="ProjectNotFound")
    if await database.fetchval(CUSTOMER_OF_TENANT, project_id, customer_id, tenant_id) is None:
        raise NotFound(f"customer {customer_id} not found", code="CustomerNotFound")


async def list_keys(request: web.Request) -> web.Response:
    page, page_size = read_page(request)
    keys = await keystore.list_keys(
        request.app[DATABASE], request[TENANT_ID], page_size + 1, (page - 1) * page_size
    )
    keys, has_more = page_items(keys, page_size)
    items = [key_out(key) for key in keys]
    return json_response(
        responses.KeyPage(items=items, page=page, page_size=page_size, has_more=has_more)
    )


async def revoke_key(request: web.Request) -> web.Response:
    key_id = request.match_info["keyId"]
    if not await keystore.revoke_key(request.app[DATABASE], key_id, request[TENANT_ID]):
        raise NotFound(f"key {key_id} not found", code="KeyNotFound")
    request.app[AUTHENTICATOR].forget_key(key_id)
    try:
        await request.app[KEY_NOTICES].announce_revoked(key_id)
    except CacheUnavailable as error:  # revoked all the same: other gateways see it by TTL
        log.warning("%s: key %s is revoked, other gateways learn it by expiry", error, key_id)
    return web.Response(status=204)


_KEY = {"keyId": "$response.body#/id"}
CREATE_KEY = Endpoint(
    "createKey",
    create_key,
    "Create an API key",
    TAG,
    status=201,
    response=responses.CreatedKey,
    response_example=examples.dump(examples.CREATED_KEY),
    body=CreateKey,
    body_example={"name": "reporting", "scope": "read", "expiresAt": "2030-01-31T12:00:00Z"},
    body_examples={
        "customer": {
            "summary": "A customer key: reads of one customer's own wallets",
            "value": {
                "name": "app of customer-42",
                "scope": "customer",
                "projectId": examples.PROJECT_ID,
                "customerId": "customer-42",
            },
        },
        "oauthClient": {
            "summary": "An OAuth2 client: its secret buys access tokens at /oauth/token",
            "value": {"name": "billing service", "scope": "full", "oauthClient": True},
        },
    },
    errors=("Forbidden", "ProjectNotFound", "CustomerNotFound"),
    description="Only a full key manages keys. `secret` is shown in this answer only (it is"
    " stored as a digest). A `customer` key needs `projectId` and `customerId` (an existing"
    " customer of the tenant's project); the other scopes name neither. An `oauthClient` key"
    " is an OAuth2 client: its `id` is the client_id, its `secret` the client_secret, and it"
    " cannot be used as a key itself. `rateLimitPerS` and `rateLimitBurst` override the"
    " deployment's rate limit for this key.",
    links=(Link("RevokeKey", "revokeKey", _KEY),),
)
LIST_KEYS = Endpoint(
    "listKeys",
    list_keys,
    "List the tenant's keys (without secrets)",
    TAG,
    response=responses.KeyPage,
    response_example=examples.page([examples.KEY]),
    query=PageQuery,
    errors=("Forbidden",),
    description="Keys that are not revoked, expired ones included, oldest first.",
)
REVOKE_KEY = Endpoint(
    "revokeKey",
    revoke_key,
    "Revoke an API key",
    TAG,
    status=204,
    errors=("Forbidden", "KeyNotFound"),
    description="The key, and every access token of an OAuth2 client, answers 401 on every"
    " gateway within a second. Another tenant's key answers 404 like a missing one.",
)
