"""Examples of the webhook routes for the OpenAPI document, built with the response models
themselves (as gateway/openapi/examples.py builds the others)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import responses
from gateway.openapi.examples import CREATED, TRANSACTION_ID

WEBHOOK_ID = "01JD3ZX5C8M1Q7W4T2R9N6B3HK"
WEBHOOK = responses.Webhook(
    id=WEBHOOK_ID,
    url="https://example.com/hooks/cloudwallet",
    events=["transaction.completed", "transaction.failed"],
    description="order service",
    created_at=CREATED,
)
CREATED_WEBHOOK = responses.CreatedWebhook(
    **WEBHOOK.model_dump(), secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)
CREATE_WEBHOOK = {
    "url": "https://example.com/hooks/cloudwallet",
    "events": ["transaction.completed", "transaction.failed"],
    "description": "order service",
}
CREATE_WEBHOOK_EXAMPLES = {
    "everything": {
        "summary": "Every event type, holds included",
        "value": {"url": "https://example.com/hooks/all", "events": ["*"]},
    },
}
FAILED_ATTEMPT = responses.WebhookDelivery(
    event_id=TRANSACTION_ID,
    event_type="transaction.completed",
    attempt=1,
    status_code=500,
    error=None,
    at=datetime(2025, 1, 31, 12, 0, 0, 120_000, tzinfo=UTC),
)
DELIVERED = FAILED_ATTEMPT.model_copy(
    update={"attempt": 2, "status_code": 200, "at": datetime(2025, 1, 31, 12, 0, 5, tzinfo=UTC)}
)
