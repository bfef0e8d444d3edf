"""The asynchronous client's routes for the service, keys, projects and assets (customers are
in `customers.py`, wallets in `wallets.py`, transactions and holds in `ledger.py`, webhook
endpoints in `webhooks.py`). Generated into `_sync/resources.py` by
`sdk/tools/unasync.py`: edit this one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from cloudwallet_client._async.transport import AsyncTransport, path
from cloudwallet_client._query import body, query
from cloudwallet_client.models import (
    AccessToken,
    Asset,
    AssetTotals,
    CreatedKey,
    Health,
    Key,
    Page,
    Project,
    Ready,
)

P = "/projects/{}"


class AsyncResources:
    """The service, keys, projects and assets; each method is one request (an `iter_` method,
    a walk over every page of a list)."""

    _transport: AsyncTransport

    # The service
    async def health(self) -> Health:
        return await self._transport.model(Health, "GET", "/health", idempotent=True)

    async def ready(self) -> Ready:
        """Raises ServiceUnavailable (503 NotReady, `details["services"]`) while not ready."""
        return await self._transport.model(Ready, "GET", "/ready", idempotent=True)

    async def metrics(self) -> str:
        return (await self._transport.request("GET", "/metrics", idempotent=True)).text

    async def openapi(self) -> dict[str, Any]:
        response = await self._transport.request("GET", "/openapi.json", idempotent=True)
        document: dict[str, Any] = response.json()
        return document

    async def docs_page(self) -> str:
        return (await self._transport.request("GET", "/docs", idempotent=True)).text

    # Keys and OAuth2
    async def issue_token(self, client_id: str, client_secret: str) -> AccessToken:
        """An access token for an OAuth2 client (a key made with `oauth_client=True`). A client
        made with client_id and client_secret fetches and renews its own."""
        return await self._transport.issue_token(client_id, client_secret)

    async def create_key(
        self,
        name: str,
        scope: Literal["full", "read", "customer"] = "full",
        *,
        project_id: str | None = None,
        customer_id: str | None = None,
        expires_at: datetime | None = None,
        oauth_client: bool | None = None,
        rate_limit_per_s: int | None = None,
        rate_limit_burst: int | None = None,
    ) -> CreatedKey:
        """A new key of the tenant; its `secret` is shown only in this answer."""
        sent = body(
            name=name,
            scope=scope,
            project_id=project_id,
            customer_id=customer_id,
            expires_at=None if expires_at is None else expires_at.isoformat(),
            oauth_client=oauth_client,
            rate_limit_per_s=rate_limit_per_s,
            rate_limit_burst=rate_limit_burst,
        )
        return await self._transport.model(CreatedKey, "POST", "/keys", idempotent=False, json=sent)

    async def list_keys(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Key]:
        params = query(page=page, page_size=page_size)
        return await self._transport.model(
            Page[Key], "GET", "/keys", idempotent=True, params=params
        )

    def iter_keys(self, *, page_size: int | None = None) -> AsyncIterator[Key]:
        return self._transport.items(Page[Key], "/keys", query(page_size=page_size))

    async def revoke_key(self, key_id: str) -> None:
        await self._transport.request("DELETE", path("/keys/{}", key_id), idempotent=True)

    # Projects
    async def create_project(self, name: str) -> Project:
        sent = body(name=name)
        return await self._transport.model(
            Project, "POST", "/projects", idempotent=False, json=sent
        )

    async def list_projects(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Project]:
        params = query(page=page, page_size=page_size)
        return await self._transport.model(
            Page[Project], "GET", "/projects", idempotent=True, params=params
        )

    def iter_projects(self, *, page_size: int | None = None) -> AsyncIterator[Project]:
        return self._transport.items(Page[Project], "/projects", query(page_size=page_size))

    async def get_project(self, project_id: str) -> Project:
        return await self._transport.model(Project, "GET", path(P, project_id), idempotent=True)

    async def rename_project(self, project_id: str, name: str) -> Project:
        url = path(P + "/name", project_id)
        return await self._transport.model(
            Project, "PUT", url, idempotent=True, json=body(name=name)
        )

    # Assets (also served at /currencies/{assetId}: the same resource)
    async def create_asset(self, project_id: str, name: str, code: str, fractions: int) -> Asset:
        url, sent = path(P + "/assets", project_id), body(name=name, code=code, fractions=fractions)
        return await self._transport.model(Asset, "POST", url, idempotent=False, json=sent)

    async def list_assets(
        self, project_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Asset]:
        url, params = path(P + "/assets", project_id), query(page=page, page_size=page_size)
        return await self._transport.model(Page[Asset], "GET", url, idempotent=True, params=params)

    def iter_assets(self, project_id: str, *, page_size: int | None = None) -> AsyncIterator[Asset]:
        url = path(P + "/assets", project_id)
        return self._transport.items(Page[Asset], url, query(page_size=page_size))

    async def get_asset(self, project_id: str, asset_id: str) -> Asset:
        url = path(P + "/assets/{}", project_id, asset_id)
        return await self._transport.model(Asset, "GET", url, idempotent=True)

    async def rename_asset(self, project_id: str, asset_id: str, name: str) -> Asset:
        url = path(P + "/assets/{}/name", project_id, asset_id)
        return await self._transport.model(Asset, "PUT", url, idempotent=True, json=body(name=name))

    async def delete_asset(self, project_id: str, asset_id: str) -> None:
        url = path(P + "/assets/{}", project_id, asset_id)
        await self._transport.request("DELETE", url, idempotent=True)

    async def get_asset_totals(self, project_id: str, asset_id: str) -> AssetTotals:
        url = path(P + "/assets/{}/totals", project_id, asset_id)
        return await self._transport.model(AssetTotals, "GET", url, idempotent=True)
