"""The synchronous client's routes for a project's webhook endpoints. Generated into
`_sync/webhooks.py` by `sdk/tools/unasync.py` from `_async/`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cloudwallet_client._query import body, query
from cloudwallet_client._sync.transport import Transport, path
from cloudwallet_client.models import (
    CreatedWebhook,
    Page,
    Webhook,
    WebhookDelivery,
    WebhookEventType,
)

P = "/projects/{}"
W = P + "/webhooks/{}"


class Webhooks:
    """A project's webhook endpoints: created (with the signing secret, shown once), listed,
    read, deleted, and the log of each one's delivery attempts. Check a delivery with
    `cloudwallet_client.verify_webhook`."""

    _transport: Transport

    def create_webhook(
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
        return self._transport.model(
            CreatedWebhook, "POST", path(P + "/webhooks", project_id), idempotent=False, json=sent
        )

    def list_webhooks(
        self, project_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Webhook]:
        """The endpoints that are not deleted, oldest first, without their secrets."""
        url, params = path(P + "/webhooks", project_id), query(page=page, page_size=page_size)
        return self._transport.model(Page[Webhook], "GET", url, idempotent=True, params=params)

    def iter_webhooks(self, project_id: str, *, page_size: int | None = None) -> Iterator[Webhook]:
        url = path(P + "/webhooks", project_id)
        return self._transport.items(Page[Webhook], url, query(page_size=page_size))

    def get_webhook(self, project_id: str, webhook_id: str) -> Webhook:
        """Raises NotFound (WebhookNotFound) for a deleted endpoint."""
        url = path(W, project_id, webhook_id)
        return self._transport.model(Webhook, "GET", url, idempotent=True)

    def delete_webhook(self, project_id: str, webhook_id: str) -> None:
        """Stops delivery to the endpoint: its pending deliveries are dropped."""
        self._transport.request("DELETE", path(W, project_id, webhook_id), idempotent=True)

    def list_webhook_deliveries(
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
        return self._transport.model(
            Page[WebhookDelivery], "GET", url, idempotent=True, params=params
        )

    def iter_webhook_deliveries(
        self, project_id: str, webhook_id: str, *, page_size: int | None = None
    ) -> Iterator[WebhookDelivery]:
        url = path(W + "/deliveries", project_id, webhook_id)
        return self._transport.items(Page[WebhookDelivery], url, query(page_size=page_size))
