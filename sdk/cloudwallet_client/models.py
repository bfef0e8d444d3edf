"""The API's resources and request pieces as pydantic models, with the API's camelCase names
on the wire and snake_case in Python. Amounts are Python integers here (the API writes them as
strings of digits), times are aware datetimes. A field the API adds later is kept, not refused
(`extra="allow"`), so an older client reads a newer server."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

# An amount in the asset's smallest unit: read from the API's strings of digits, written as one.
Amount = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]
Metadata = dict[str, str]
Item = TypeVar("Item", bound=BaseModel)


class Model(BaseModel):
    """A resource as the API shows it."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="allow"
    )


class Asset(Model):
    id: str
    name: str
    code: str
    fractions: int
    created_at: datetime


class Project(Model):
    id: str
    name: str
    assets: list[Asset]
    created_at: datetime


class Customer(Model):
    id: str
    name: str
    description: str
    status: Literal["Active", "Suspended"]
    metadata: Metadata
    created_at: datetime
    updated_at: datetime


class Wallet(Model):
    id: str
    project_id: str
    asset_id: str
    customer_id: str | None
    type: Literal["customer", "system"]
    name: str
    description: str
    status: Literal["Open", "Suspended", "Closed"]
    balance: Amount
    held_balance: Amount
    available_balance: Amount
    metadata: Metadata
    created_at: datetime
    updated_at: datetime


class WalletBalance(Model):
    wallet_id: str
    at: datetime
    balance: Amount
    held_balance: Amount
    available_balance: Amount


class AssetTotals(Model):
    asset_id: str
    issued: Amount
    redeemed: Amount
    outstanding: Amount
    held: Amount
    wallet_count: int


class Entry(Model):
    id: str
    wallet_id: str
    transaction_id: str
    operation_index: int
    type: Literal["Issue", "Redeem", "Debit", "Credit", "Hold", "Release"]
    amount: Amount
    balance_after: Amount
    held_after: Amount
    counterparty_wallet_id: str | None
    created_at: datetime


class BaseOperation(BaseModel):
    """An operation of a transaction: what a submission sends, and what a transaction shows."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="allow")

    def to_json(self) -> dict[str, Any]:
        """The operation as a request body carries it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Transfer(BaseOperation):
    type: Literal["Transfer"] = "Transfer"
    from_wallet_id: str = Field(alias="from")
    to_wallet_id: str = Field(alias="to")
    amount: Amount


class Issue(BaseOperation):
    type: Literal["Issue"] = "Issue"
    to_wallet_id: str = Field(alias="to")
    amount: Amount


class Redeem(BaseOperation):
    type: Literal["Redeem"] = "Redeem"
    from_wallet_id: str = Field(alias="from")
    amount: Amount


class Hold(BaseOperation):
    """Reserve `amount` of `from`: a pending Transfer to `to`, or a pending Redeem without it,
    expiring `timeout_s` seconds after its transaction completes (never, without it). A
    Completed transaction shows the id of the hold it made (`hold_id`)."""

    type: Literal["Hold"] = "Hold"
    from_wallet_id: str = Field(alias="from")
    to_wallet_id: str | None = Field(default=None, alias="to")
    amount: Amount
    timeout_s: int | None = Field(default=None, alias="timeoutS")
    hold_id: str | None = Field(default=None, alias="holdId")


class Capture(BaseOperation):
    """Apply a hold for `amount` (the whole hold without it) and release the rest."""

    type: Literal["Capture"] = "Capture"
    hold_id: str = Field(alias="holdId")
    amount: Amount | None = None


class Void(BaseOperation):
    """Release a whole hold."""

    type: Literal["Void"] = "Void"
    hold_id: str = Field(alias="holdId")


class Expire(BaseOperation):
    """The service's own release of an expired hold (never submitted by a client)."""

    type: Literal["Expire"] = "Expire"
    hold_id: str = Field(alias="holdId")


Operation = Annotated[
    Transfer | Issue | Redeem | Hold | Capture | Void | Expire, Field(discriminator="type")
]
TransactionStatus = Literal["Pending", "Completed", "Failed"]


class TransactionFailure(Model):
    operation_index: int
    code: str
    message: str


class Transaction(Model):
    id: str
    reference_id: str
    status: TransactionStatus
    operations: list[Operation]
    failure: TransactionFailure | None = None
    metadata: Metadata = Field(default_factory=dict)
    reversal_of: str | None = None
    reversed_by: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


class TransactionAccepted(Model):
    """A submission the service accepted: Pending, to be read until Completed or Failed. (A
    retried submission that had landed answers with its transaction's current status.)"""

    id: str
    reference_id: str
    status: TransactionStatus


class HoldState(Model):
    """A hold (`GET .../holds/{holdId}`)."""

    id: str
    project_id: str
    wallet_id: str
    to_wallet_id: str | None
    amount: Amount
    captured_amount: Amount
    status: Literal["Pending", "Captured", "Voided", "Expired"]
    transaction_id: str
    resolved_by_transaction_id: str | None
    expires_at: datetime | None
    created_at: datetime
    resolved_at: datetime | None


class FieldError(Model):
    field: str
    message: str


class ErrorDetail(Model):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(Model):
    error: ErrorDetail


class TransactionBatchItem(Model):
    """One item of a batch: the status the single submit route would have answered, and its
    body (the accepted transaction, or the error)."""

    index: int
    status: int
    body: TransactionAccepted | ErrorBody


class TransactionBatchResult(Model):
    items: list[TransactionBatchItem]
    accepted: int
    rejected: int


class Key(Model):
    id: str
    name: str
    scope: Literal["full", "read", "customer"]
    project_id: str | None
    customer_id: str | None
    expires_at: datetime | None
    oauth_client: bool
    rate_limit_per_s: int | None
    rate_limit_burst: int | None
    created_at: datetime


class CreatedKey(Key):
    """A new key with its secret, shown only once."""

    secret: str


WebhookEventType = Literal[
    "transaction.completed",
    "transaction.failed",
    "hold.captured",
    "hold.voided",
    "hold.expired",
    "*",
]


class Webhook(Model):
    """A webhook endpoint as listed and read: never its secret. `events` are event types
    (`WebhookEventType`; `*` for all of them)."""

    id: str
    url: str
    events: list[str]
    description: str
    created_at: datetime


class CreatedWebhook(Webhook):
    """A new webhook endpoint with its signing secret (`whsec_...`), shown only once: keep it
    to check deliveries with `verify_webhook`."""

    secret: str


class WebhookDelivery(Model):
    """One attempt to deliver an event to an endpoint: the endpoint's HTTP status, or the
    error when it did not answer."""

    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    at: datetime


class AccessToken(BaseModel):
    """An OAuth2 access token (RFC 6749 section 5.1)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: Literal["full", "read", "customer"]


class Health(Model):
    status: str


class Ready(Model):
    status: str
    services: dict[str, str]


class Page(Model, Generic[Item]):
    """One page of a list; `next_cursor` only on the lists paged by cursor (wallets, entries,
    transactions, holds), None on their last page."""

    items: list[Item]
    page: int
    page_size: int
    has_more: bool
    next_cursor: str | None = None
