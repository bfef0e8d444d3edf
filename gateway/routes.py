"""The flat table of every route the gateway serves; the OpenAPI document is generated from
the same table."""

from __future__ import annotations

import json

from aiohttp import web

from gateway.app_keys import DOCS_PAGE, ENDPOINTS, OPENAPI_DOCUMENT
from gateway.handlers import (
    assets,
    balances,
    customer_list,
    customer_status,
    customers,
    entries,
    holds,
    keys,
    meta,
    oauth,
    projects,
    transaction_batches,
    transaction_list,
    transactions,
    wallet_list,
    wallet_status,
    wallets,
    webhooks,
)
from gateway.openapi.docs_page import render_docs
from gateway.openapi.document import build_openapi
from gateway.openapi.endpoint import Route
from shared.settings import Settings

P = "/projects/{projectId}"
C = P + "/customers/{customerId}"
W = P + "/wallets/{walletId}"

ROUTES = (
    Route("GET", "/health", meta.HEALTH),
    Route("GET", "/ready", meta.READY),
    Route("GET", "/metrics", meta.METRICS_TEXT),
    Route("GET", "/openapi.json", meta.OPENAPI),
    Route("GET", "/docs", meta.DOCS),
    Route("POST", "/oauth/token", oauth.ISSUE_TOKEN),
    Route("POST", "/keys", keys.CREATE_KEY),
    Route("GET", "/keys", keys.LIST_KEYS),
    Route("DELETE", "/keys/{keyId}", keys.REVOKE_KEY),
    Route("POST", "/projects", projects.CREATE_PROJECT),
    Route("GET", "/projects", projects.LIST_PROJECTS),
    Route("GET", P, projects.GET_PROJECT),
    Route("PUT", P + "/name", projects.RENAME_PROJECT),
    Route("POST", P + "/assets", assets.CREATE_ASSET),
    Route("GET", P + "/assets", assets.LIST_ASSETS),
    Route("GET", P + "/assets/{assetId}", assets.GET_ASSET),
    Route("DELETE", P + "/assets/{assetId}", assets.DELETE_ASSET),
    Route("PUT", P + "/assets/{assetId}/name", assets.RENAME_ASSET),
    Route("GET", P + "/assets/{assetId}/totals", assets.GET_ASSET_TOTALS),
    Route("GET", P + "/currencies/{assetId}", assets.GET_CURRENCY),
    Route("DELETE", P + "/currencies/{assetId}", assets.DELETE_CURRENCY),
    Route("PUT", P + "/currencies/{assetId}/name", assets.RENAME_CURRENCY),
    Route("POST", P + "/customers", customers.UPSERT_CUSTOMER),
    Route("GET", P + "/customers", customer_list.LIST_CUSTOMERS),
    Route("GET", C, customers.GET_CUSTOMER),
    Route("PUT", C, customers.PUT_CUSTOMER),
    Route("DELETE", C, customers.DELETE_CUSTOMER),
    Route("PUT", C + "/suspend", customer_status.SUSPEND_CUSTOMER),
    Route("PUT", C + "/resume", customer_status.RESUME_CUSTOMER),
    Route("PUT", C + "/metadata", customers.REPLACE_CUSTOMER_METADATA),
    Route("GET", C + "/wallets", customers.LIST_CUSTOMER_WALLETS),
    Route("POST", P + "/wallets", wallets.OPEN_WALLET),
    Route("GET", P + "/wallets", wallet_list.LIST_WALLETS),
    Route("POST", P + "/system-wallets", wallets.OPEN_SYSTEM_WALLET),
    Route("GET", P + "/system-wallets", wallets.LIST_SYSTEM_WALLETS),
    Route("GET", W, wallets.GET_WALLET),
    Route("PUT", W + "/name", wallets.RENAME_WALLET),
    Route("PUT", W + "/description", wallets.DESCRIBE_WALLET),
    Route("PUT", W + "/status", wallet_status.CHANGE_WALLET_STATUS),
    Route("PUT", W + "/metadata", wallets.REPLACE_WALLET_METADATA),
    Route("GET", W + "/balance", balances.GET_WALLET_BALANCE),
    Route("GET", W + "/entries", entries.LIST_ENTRIES),
    Route("POST", P + "/transactions", transactions.SUBMIT_TRANSACTION),
    Route("POST", P + "/transactions/batch", transaction_batches.SUBMIT_TRANSACTION_BATCH),
    Route("GET", P + "/transactions", transaction_list.LIST_TRANSACTIONS),
    Route("GET", P + "/transactions/{transactionId}", transactions.GET_TRANSACTION),
    Route("POST", P + "/transactions/{transactionId}/reversal", transactions.SUBMIT_REVERSAL),
    Route("GET", P + "/holds", holds.LIST_HOLDS),
    Route("GET", P + "/holds/{holdId}", holds.GET_HOLD),
    Route("POST", P + "/webhooks", webhooks.CREATE_WEBHOOK),
    Route("GET", P + "/webhooks", webhooks.LIST_WEBHOOKS),
    Route("GET", P + "/webhooks/{webhookId}", webhooks.GET_WEBHOOK),
    Route("DELETE", P + "/webhooks/{webhookId}", webhooks.DELETE_WEBHOOK),
    Route("GET", P + "/webhooks/{webhookId}/deliveries", webhooks.LIST_WEBHOOK_DELIVERIES),
)


# aiohttp tries the resources under one path prefix (here "/projects", thirty of them) one by
# one in the order they were added: the paths under load are added first. Their templates
# match no other route's path, so the order decides nothing else.
HOT_PATHS = (P + "/transactions",)


def add_routes(app: web.Application, settings: Settings) -> None:
    """Serve every route of the table, and the document and page generated from it."""
    endpoints = {}
    for route in sorted(ROUTES, key=lambda route: route.path not in HOT_PATHS):
        resource_route = app.router.add_route(route.method, route.path, route.endpoint.handler)
        endpoints[(route.method, resource_route.resource.canonical)] = route.endpoint  # type: ignore[union-attr]
    app[ENDPOINTS] = endpoints
    document = build_openapi(ROUTES, settings)
    # The standard encoder: the document holds integers wider than 64 bits (amount limits).
    app[OPENAPI_DOCUMENT] = json.dumps(document).encode()
    app[DOCS_PAGE] = render_docs(document).encode()
