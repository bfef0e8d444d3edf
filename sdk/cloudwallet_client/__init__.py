"""A Python client for the cloudwallet HTTP API, synchronous (`Client`) and asynchronous
(`AsyncClient`), with typed models and errors.

    from cloudwallet_client import Client, Issue, Transfer

    with Client("http://127.0.0.1:8080", api_key=key) as client:
        project = client.create_project("Loyalty")
        ...
        issue = Issue(to_wallet_id=treasury.id, amount=1000)
        transaction = client.submit_and_wait(project.id, "order-1", [issue])
"""

from cloudwallet_client._async.client import AsyncClient
from cloudwallet_client._sync.client import Client
from cloudwallet_client.errors import (
    ApiError,
    CloudwalletError,
    Conflict,
    DuplicateReferenceId,
    Forbidden,
    NotFound,
    OAuthError,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    TransactionTimeout,
    TransportError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    WebhookVerificationError,
)
from cloudwallet_client.models import (
    AccessToken,
    Asset,
    AssetTotals,
    Capture,
    CreatedKey,
    CreatedWebhook,
    Customer,
    Entry,
    Hold,
    HoldState,
    Issue,
    Key,
    Page,
    Project,
    Redeem,
    Transaction,
    TransactionAccepted,
    TransactionBatchResult,
    TransactionFailure,
    Transfer,
    Void,
    Wallet,
    WalletBalance,
    Webhook,
    WebhookDelivery,
    WebhookEventType,
)
from cloudwallet_client.retries import RetryPolicy
from cloudwallet_client.webhooks import sign_webhook, verify_webhook

__version__ = "0.1.0"
__all__ = [
    "AccessToken",
    "ApiError",
    "Asset",
    "AssetTotals",
    "AsyncClient",
    "Capture",
    "Client",
    "CloudwalletError",
    "Conflict",
    "CreatedKey",
    "CreatedWebhook",
    "Customer",
    "DuplicateReferenceId",
    "Entry",
    "Forbidden",
    "Hold",
    "HoldState",
    "Issue",
    "Key",
    "NotFound",
    "OAuthError",
    "Page",
    "PayloadTooLarge",
    "Project",
    "Redeem",
    "RetryPolicy",
    "ServiceUnavailable",
    "TooManyRequests",
    "Transaction",
    "TransactionAccepted",
    "TransactionBatchResult",
    "TransactionFailure",
    "TransactionTimeout",
    "Transfer",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "Void",
    "Wallet",
    "WalletBalance",
    "Webhook",
    "WebhookDelivery",
    "WebhookEventType",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]
