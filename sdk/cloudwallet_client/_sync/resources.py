"""The synchronous client's routes for the service, keys, projects and assets (customers are
in `customers.py`, wallets in `wallets.py`, transactions and holds in `ledger.py`, webhook
endpoints in `webhooks.py`). Generated into `_sync/resources.py` by
`sdk/tools/unasync.py` from `_async/`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from cloudwallet_client._query import body, query
from cloudwallet_client._sync.transport import Transport, path
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


class Resources:
    """The service, keys, projects and assets; each method is one request (an `iter_` method,
    a walk over every page of a list)."""

    _transport: Transport

    # The service
    def health(self) -> Health:
        return self._transport.model(Health, "GET", "/health", idempotent=True)

    def ready(self) -> Ready:
        """Raises ServiceUnavailable (503 NotReady, `details["services"]`) while not ready."""
        return self._transport.model(Ready, "GET", "/ready", idempotent=True)

    def metrics(self) -> str:
        return (self._transport.request("GET", "/metrics", idempotent=True)).text

    def openapi(self) -> dict[str, Any]:
        response = self._transport.request("GET", "/openapi.json", idempotent=True)
        document: dict[str, Any] = response.json()
        return document

    def docs_page(self) -> str:
        return (self._transport.request("GET", "/docs", idempotent=True)).text

    # Keys and OAuth2
    def issue_token(self, client_id: str, client_secret: str) -> AccessToken:
        """An access token for an OAuth2 client (a key made with `oauth_client=True`). A client
        made with client_id and client_secret fetches and renews its own."""
        return self._transport.issue_token(client_id, client_secret)

    def create_key(
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
        return self._transport.model(CreatedKey, "POST", "/keys", idempotent=False, json=sent)

    def list_keys(self, *, page: int | None = None, page_size: int | None = None) -> Page[Key]:
        params = query(page=page, page_size=page_size)
        return self._transport.model(Page[Key], "GET", "/keys", idempotent=True, params=params)

    def iter_keys(self, *, page_size: int | None = None) -> Iterator[Key]:
        return self._transport.items(Page[Key], "/keys", query(page_size=page_size))

    def revoke_key(self, key_id: str) -> None:
        self._transport.request("DELETE", path("/keys/{}", key_id), idempotent=True)

    # Projects
    def create_project(self, name: str) -> Project:
        sent = body(name=name)
        return self._transport.model(Project, "POST", "/projects", idempotent=False, json=sent)

    def list_projects(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Project]:
        params = query(page=page, page_size=page_size)
        return self._transport.model(
            Page[Project], "GET", "/projects", idempotent=True, params=params
        )

    def iter_projects(self, *, page_size: int | None = None) -> Iterator[Project]:
        return self._transport.items(Page[Project], "/projects", query(page_size=page_size))

    def get_project(self, project_id: str) -> Project:
        return self._transport.model(Project, "GET", path(P, project_id), idempotent=True)

    def rename_project(self, project_id: str, name: str) -> Project:
        url = path(P + "/name", project_id)
        return self._transport.model(Project, "PUT", url, idempotent=True, json=body(name=name))

    # Assets (also served at /currencies/{assetId}: the same resource)
    def create_asset(self, project_id: str, name: str, code: str, fractions: int) -> Asset:
        url, sent = path(P + "/assets", project_id), body(name=name, code=code, fractions=fractions)
        return self._transport.model(Asset, "POST", url, idempotent=False, json=sent)

    def list_assets(
        self, project_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Asset]:
        url, params = path(P + "/assets", project_id), query(page=page, page_size=page_size)
        return self._transport.model(Page[Asset], "GET", url, idempotent=True, params=params)

    def iter_assets(self, project_id: str, *, page_size: int | None = None) -> Iterator[Asset]:
        url = path(P + "/assets", project_id)
        return self._transport.items(Page[Asset], url, query(page_size=page_size))

    def get_asset(self, project_id: str, asset_id: str) -> Asset:
        url = path(P + "/assets/{}", project_id, asset_id)
        return self._transport.model(Asset, "GET", url, idempotent=True)

    def rename_asset(self, project_id: str, asset_id: str, name: str) -> Asset:
        url = path(P + "/assets/{}/name", project_id, asset_id)
        return self._transport.model(Asset, "PUT", url, idempotent=True, json=body(name=name))

    def delete_asset(self, project_id: str, asset_id: str) -> None:
        url = path(P + "/assets/{}", project_id, asset_id)
        self._transport.request("DELETE", url, idempotent=True)

    def get_asset_totals(self, project_id: str, asset_id: str) -> AssetTotals:
        url = path(P + "/assets/{}/totals", project_id, asset_id)
        return self._transport.model(AssetTotals, "GET", url, idempotent=True)
