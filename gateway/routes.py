"""The flat table of every route the gateway serves."""

from __future__ import annotations

from aiohttp import web

from gateway.handlers import assets, customers, projects, transactions, wallets
from gateway.handlers.transaction_batches import submit_transaction_batch

P = "/projects/{projectId}"


async def health(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP (its dependencies were checked at start)."""
    return web.json_response({"status": "ok"})


def add_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/health", health, allow_head=False),
            web.post("/projects", projects.create_project),
            web.get("/projects", projects.list_projects, allow_head=False),
            web.get(P, projects.get_project, allow_head=False),
            web.put(P + "/name", projects.rename_project),
            web.post(P + "/assets", assets.create_asset),
            web.get(P + "/assets", assets.list_assets, allow_head=False),
            web.get(P + "/assets/{assetId}", assets.get_asset, allow_head=False),
            web.get(P + "/currencies/{assetId}", assets.get_asset, allow_head=False),
            web.post(P + "/customers", customers.upsert_customer),
            web.get(P + "/customers/{customerId}", customers.get_customer, allow_head=False),
            web.post(P + "/wallets", wallets.open_wallet),
            web.get(P + "/wallets/{walletId}", wallets.get_wallet, allow_head=False),
            web.post(P + "/system-wallets", wallets.open_system_wallet),
            web.get(P + "/system-wallets", wallets.list_system_wallets, allow_head=False),
            web.post(P + "/transactions", transactions.submit_transaction),
            web.post(P + "/transactions/batch", submit_transaction_batch),
            web.get(
                P + "/transactions/{transactionId}", transactions.get_transaction, allow_head=False
            ),
        ]
    )
