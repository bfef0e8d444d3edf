"""Examples for the OpenAPI document, built with the response models themselves so that an
example can never show a shape the API does not answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway import responses
from shared.contract.messages import hold_id

PROJECT_ID = "01JD3ZQ6M2X8Y4TNK7V5B9RCEW"
ASSET_ID = "01JD3ZR0A5S7HX2C9Q1WNB4M6K"
WALLET_ID = "01JD3ZS4E8P2KD6V3YQ7TF0G1A"
TREASURY_ID = "01JD3ZS1B3N9QH4X8CRW2M5V7E"
TRANSACTION_ID = "01JD3ZT9K1W5R8M2FXQ4N6C3HB"
HOLD_TRANSACTION_ID = "01JD3ZV2H6C4M9T1QX8R5N7BKD"
HOLD_ID = hold_id(HOLD_TRANSACTION_ID, 0)
CREATED = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
COMPLETED = datetime(2025, 1, 31, 12, 0, 0, 42_000, tzinfo=UTC)


def dump(model: responses.Out) -> Any:
    return model.model_dump(mode="json", by_alias=True)


ASSET = responses.Asset(id=ASSET_ID, name="Points", code="PTS", fractions=100, created_at=CREATED)
PROJECT = responses.Project(id=PROJECT_ID, name="Loyalty", assets=[ASSET], created_at=CREATED)
CUSTOMER = responses.Customer(
    id="customer-42",
    name="Ada",
    description="gold tier",
    status="Active",
    metadata={"crmId": "C-981", "tier": "gold"},
    created_at=CREATED,
    updated_at=CREATED,
)
WALLET = responses.Wallet(
    id=WALLET_ID,
    project_id=PROJECT_ID,
    asset_id=ASSET_ID,
    customer_id="customer-42",
    type="customer",
    name="main",
    description="",
    status="Open",
    balance=2000,
    held_balance=500,
    available_balance=1500,
    metadata={"channel": "web"},
    created_at=CREATED,
    updated_at=COMPLETED,
)
EMPTY_WALLET = {"balance": 0, "held_balance": 0, "available_balance": 0}
SYSTEM_WALLET = WALLET.model_copy(
    update={
        "id": TREASURY_ID,
        "customer_id": None,
        "type": "system",
        "name": "treasury",
        "metadata": {},
    }
)
WALLET_BALANCE = responses.WalletBalance(
    wallet_id=WALLET_ID,
    at=datetime(2025, 1, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    balance=2000,
    held_balance=500,
    available_balance=1500,
)
ASSET_TOTALS = responses.AssetTotals(
    asset_id=ASSET_ID,
    issued=1_000_000,
    redeemed=250_000,
    outstanding=750_000,
    held=500,
    wallet_count=1042,
)
ENTRY = responses.Entry(
    id=1042,
    wallet_id=WALLET_ID,
    transaction_id=TRANSACTION_ID,
    operation_index=1,
    type="Credit",
    amount=2000,
    balance_after=2000,
    held_after=0,
    counterparty_wallet_id=TREASURY_ID,
    created_at=COMPLETED,
)
OPERATIONS = [
    responses.IssueOperationResult.model_validate(
        {"type": "Issue", "to": TREASURY_ID, "amount": 2000}
    ),
    responses.TransferOperationResult.model_validate(
        {"type": "Transfer", "from": TREASURY_ID, "to": WALLET_ID, "amount": 2000}
    ),
]
REVERSAL_ID = "01JDQ7Z0M4T6W2X8Y5Z3A1B9C7"
TRANSACTION = responses.Transaction(
    id=TRANSACTION_ID,
    reference_id="order-1001",
    status="Completed",
    operations=OPERATIONS,
    created_at=CREATED,
    completed_at=COMPLETED,
)
ACCEPTED = responses.TransactionAccepted(
    id=TRANSACTION_ID, reference_id="order-1001", status="Pending"
)
ACCEPTED_REVERSAL = responses.TransactionAccepted(
    id=REVERSAL_ID, reference_id="refund-1001", status="Pending"
)
SUBMIT_REVERSAL = {"referenceId": "refund-1001", "metadata": {"reason": "order cancelled"}}
SUBMIT = {
    "referenceId": "order-1001",
    "operations": [
        {"type": "Issue", "to": TREASURY_ID, "amount": "2000"},
        {"type": "Transfer", "from": TREASURY_ID, "to": WALLET_ID, "amount": "2000"},
    ],
}

# Further request bodies of the submit route: the operations on holds.
SUBMIT_HOLD = {
    "referenceId": "checkout-1001",
    "operations": [
        {"type": "Hold", "from": WALLET_ID, "to": TREASURY_ID, "amount": "500", "timeoutS": 900}
    ],
}
SUBMIT_CAPTURE = {
    "referenceId": "shipped-1001",
    "operations": [{"type": "Capture", "holdId": HOLD_ID, "amount": "300"}],
}
SUBMIT_VOID = {"referenceId": "cancelled-1001", "operations": [{"type": "Void", "holdId": HOLD_ID}]}
SUBMIT_EXAMPLES = {
    "hold": {"summary": "Reserve 500 of a wallet for 15 minutes", "value": SUBMIT_HOLD},
    "capture": {"summary": "Capture 300 of the hold and release the rest", "value": SUBMIT_CAPTURE},
    "void": {"summary": "Release the whole hold", "value": SUBMIT_VOID},
}
HOLD = responses.Hold(
    id=HOLD_ID,
    project_id=PROJECT_ID,
    wallet_id=WALLET_ID,
    to_wallet_id=TREASURY_ID,
    amount=500,
    captured_amount=0,
    status="Pending",
    transaction_id=HOLD_TRANSACTION_ID,
    resolved_by_transaction_id=None,
    expires_at=datetime(2025, 1, 31, 12, 15, 0, 42_000, tzinfo=UTC),
    created_at=COMPLETED,
    resolved_at=None,
)


def page(items: list[responses.Out], *, cursor: bool = False) -> Any:
    body = {"items": [dump(item) for item in items], "page": 1, "pageSize": 50, "hasMore": False}
    if cursor:
        body["nextCursor"] = None
    return body


KEY = responses.Key(
    id="01JD3ZW7P4K2N8X5R1C9T6M3QB",
    name="reporting",
    scope="read",
    project_id=None,
    customer_id=None,
    expires_at=datetime(2030, 1, 31, 12, 0, tzinfo=UTC),
    oauth_client=False,
    rate_limit_per_s=None,
    rate_limit_burst=None,
    created_at=CREATED,
)
CREATED_KEY = responses.CreatedKey(
    **KEY.model_dump(), secret="cw.01JD3ZW7P4K2N8X5R1C9T6M3QB.<secret shown once>"
)
ACCESS_TOKEN = responses.AccessToken(
    access_token="eyJhbGciOiJIUzI1NiIsImtpZCI6InNrLTEiLCJ0eXAiOiJKV1QifQ.<claims>.<signature>",
    token_type="Bearer",
    expires_in=3600,
    scope="read",
)
