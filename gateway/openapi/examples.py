"""Examples for the OpenAPI document, built with the response models themselves so that an
example can never show a shape the API does not answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway import responses
from shared.contract.messages import IssueOperation, TransferOperation

PROJECT_ID = "01JD3ZQ6M2X8Y4TNK7V5B9RCEW"
ASSET_ID = "01JD3ZR0A5S7HX2C9Q1WNB4M6K"
WALLET_ID = "01JD3ZS4E8P2KD6V3YQ7TF0G1A"
TREASURY_ID = "01JD3ZS1B3N9QH4X8CRW2M5V7E"
TRANSACTION_ID = "01JD3ZT9K1W5R8M2FXQ4N6C3HB"
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
    created_at=CREATED,
    updated_at=COMPLETED,
)
SYSTEM_WALLET = WALLET.model_copy(
    update={"id": TREASURY_ID, "customer_id": None, "type": "system", "name": "treasury"}
)
ENTRY = responses.Entry(
    id=1042,
    wallet_id=WALLET_ID,
    transaction_id=TRANSACTION_ID,
    operation_index=1,
    type="Credit",
    amount=2000,
    balance_after=2000,
    counterparty_wallet_id=TREASURY_ID,
    created_at=COMPLETED,
)
OPERATIONS = [
    IssueOperation.model_validate({"type": "Issue", "to": TREASURY_ID, "amount": 2000}),
    TransferOperation.model_validate(
        {"type": "Transfer", "from": TREASURY_ID, "to": WALLET_ID, "amount": 2000}
    ),
]
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
SUBMIT = {
    "referenceId": "order-1001",
    "operations": [
        {"type": "Issue", "to": TREASURY_ID, "amount": "2000"},
        {"type": "Transfer", "from": TREASURY_ID, "to": WALLET_ID, "amount": "2000"},
    ],
}


def page(items: list[responses.Out], *, cursor: bool = False) -> Any:
    body = {"items": [dump(item) for item in items], "page": 1, "pageSize": 50, "hasMore": False}
    if cursor:
        body["nextCursor"] = None
    return body
