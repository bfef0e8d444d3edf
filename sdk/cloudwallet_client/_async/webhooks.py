"""The asynchronous client's routes for a project's webhook endpoints. Generated into
`_sync/webhooks.py` by `sdk/tools/unasync.py`: edit this one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from cloudwallet_client._async.transport import AsyncTransport, path
from cloudwallet_client._query import body, query
from cloudwallet_client.models import (
    CreatedWebhook,
    Page,
    Webhook,
    WebhookDelivery,
    WebhookEventType,
)

P = "/projects/{}"
W = P + "/webhooks/{}"


class AsyncWebhooks:
    """A project's webhook endpoints: created (with the signing secret, shown once), listed,
    read, deleted, and the log of each one's delivery attempts. Check a delivery with
    `cloudwallet_client.verify_webhook`."""

    _transport: AsyncTransport

    async def create_webhook(
        self,
        project_id: str,
        url: str,
        events: Sequence[WebhookEventType],
        *,
        description: str | None = None,
    ) -> CreatedWebhook:
        """A new endpoint receiving `events` (`["*"]`: all of them) at `url`; its `secret`
        (`whsec_...`) is shown only in this answer."""
        sent = body(url=url, events=list(events), description=description)
        return await self._transport.model(
            CreatedWebhook, "POST", path(P + "/webhooks", project_id), idempotent=False, json=sent
        )

    async def list_webhooks(
        self, project_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Webhook]:
        """The endpoints that are not deleted, oldest first, without their secrets."""
        url, params = path(P + "/webhooks", project_id), query(page=page, page_size=page_size)
        return await self._transport.model(
            Page[Webhook], "GET", url, idempotent=True, params=params
        )

    def iter_webhooks(
        self, project_id: str, *, page_size: int | None = None
    ) -> AsyncIterator[Webhook]:
        url = path(P + "/webhooks", project_id)
        return self._transport.items(Page[Webhook], url, query(page_size=page_size))

    async def get_webhook(self, project_id: str, webhook_id: str) -> Webhook:
        """Raises NotFound (WebhookNotFound) for a deleted endpoint."""
        url = path(W, project_id, webhook_id)
        return await self._transport.model(Webhook, "GET", url, idempotent=True)

    async def delete_webhook(self, project_id: str, webhook_id: str) -> None:
        """Stops delivery to the endpoint: its pending deliveries are dropped."""
        await self._transport.request("DELETE", path(W, project_id, webhook_id), idempotent=True)

    async def list_webhook_deliveries(
        self,
        project_id: str,
        webhook_id: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[WebhookDelivery]:
        """The endpoint's recent delivery attempts, newest first."""
        url = path(W + "/deliveries", project_id, webhook_id)
        params = query(page=page, page_size=page_size)
        return await self._transport.model(
            Page[WebhookDelivery], "GET", url, idempotent=True, params=params
        )

    def iter_webhook_deliveries(
        self, project_id: str, webhook_id: str, *, page_size: int | None = None
    ) -> AsyncIterator[WebhookDelivery]:
        url = path(W + "/deliveries", project_id, webhook_id)
        return self._transport.items(Page[WebhookDelivery], url, query(page_size=page_size))
