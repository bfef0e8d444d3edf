"""What responses carry: every body the gateway answers is one of these models, serialized by
it, and the OpenAPI document describes the same models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from shared.contract.messages import (
    Amount,
    CaptureOperation,
    ExpireOperation,
    HoldId,
    HoldOperation,
    IssueOperation,
    Metadata,
    RedeemOperation,
    TransferOperation,
    VoidOperation,
    WalletId,
    format_time,
)
from shared.core.ledger import HOLD_TIMEOUT_S_MAX

Time = Annotated[
    datetime,
    PlainSerializer(format_time, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 in UTC with milliseconds",
            "examples": ["2025-01-31T12:00:00.000Z"],
        }
    ),
]
AmountText = Annotated[
    int,
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{1,39}$",
            "description": "integer in the asset's smallest unit, written in digits",
            "examples": ["2000"],
        }
    ),
]
EntryId = Annotated[
    int,
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,19}$", "examples": ["1042"]}),
]
Item = TypeVar("Item", bound=BaseModel)


class Out(BaseModel):
    """A response body: camelCase on the wire, serialized by alias."""

    # A field with a default is still always written (unless it says `exclude_if`), so the
    # document lists it as required in the answer.
    model_config = ConfigDict(
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        json_schema_serialization_defaults_required=True,
    )

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class Asset(Out):
    id: str
    name: str
    code: str
    fractions: int
    created_at: Time


class Project(Out):
    id: str
    name: str
    assets: list[Asset]
    created_at: Time


MetadataOut = Annotated[
    dict[str, str],
    Field(description="the caller's own labels, string keys to string values; {} when none"),
]


class Customer(Out):
    id: str
    name: str
    description: str
    status: Literal["Active", "Suspended"]
    metadata: MetadataOut
    created_at: Time
    updated_at: Time


class Wallet(Out):
    id: str
    project_id: str
    asset_id: str
    customer_id: str | None = Field(description="null for a system wallet")
    type: Literal["customer", "system"]
    name: str
    description: str
    status: Literal["Open", "Suspended", "Closed"]
    balance: AmountText
    held_balance: AmountText = Field(description="the sum of the wallet's Pending holds")
    available_balance: AmountText = Field(
        description="balance - heldBalance: what a Transfer, Redeem or Hold may draw on"
    )
    metadata: MetadataOut
    created_at: Time
    updated_at: Time


class WalletBalance(Out):
    """A wallet's balances as they were at an instant: after every entry made at or before it."""

    wallet_id: str
    at: Time
    balance: AmountText
    held_balance: AmountText
    available_balance: AmountText


class AssetTotals(Out):
    """An asset's supply: what was issued and redeemed, what is outstanding (their difference,
    the sum of its wallets' balances) and held, and how many wallets it has."""

    asset_id: str
    issued: AmountText
    redeemed: AmountText
    outstanding: AmountText = Field(description="issued - redeemed: the sum of the balances")
    held: AmountText = Field(description="the sum of the wallets' held balances")
    wallet_count: int = Field(description="every wallet of the asset, system wallets included")


class Entry(Out):
    id: EntryId
    wallet_id: str
    transaction_id: str
    operation_index: int
    type: Literal["Issue", "Redeem", "Debit", "Credit", "Hold", "Release"]
    amount: AmountText
    balance_after: AmountText
    held_after: AmountText = Field(
        description="the wallet's held balance after the entry: only Hold and Release move it"
    )
    counterparty_wallet_id: str | None = Field(
        description="the other wallet of a transfer, or of a Hold or Release with a `to`;"
        " null for Issue and Redeem"
    )
    created_at: Time


class TransactionFailure(Out):
    operation_index: int
    code: str
    message: str


def _absent(value: object) -> bool:
    return value is None


# The operations as a transaction shows them, under names of their own: the submitted shapes
# read an amount as a string or an integer and the shown ones write a string, and a generator
# needs one name per shape (docs/decisions/0023-clients.md).
class TransferOperationResult(TransferOperation):
    """A Transfer as a transaction shows it."""


class IssueOperationResult(IssueOperation):
    """An Issue as a transaction shows it."""


class RedeemOperationResult(RedeemOperation):
    """A Redeem as a transaction shows it."""


class HoldOperationResult(HoldOperation):
    """A Hold as a transaction shows it: as submitted, with the id of the hold it made once
    the transaction has Completed."""

    to_wallet_id: WalletId | None = Field(default=None, alias="to", exclude_if=_absent)
    timeout_s: int | None = Field(
        default=None,
        alias="timeoutS",
        ge=1,
        le=HOLD_TIMEOUT_S_MAX,
        strict=True,
        exclude_if=_absent,
        description="seconds from the transaction's completion to the hold's expiry",
    )
    hold_id: HoldId | None = Field(
        default=None,
        alias="holdId",
        exclude_if=_absent,
        description="the hold this operation made; only on a Completed transaction",
    )


class CaptureOperationResult(CaptureOperation):
    """A Capture as a transaction shows it: `amount` only when it was given."""

    amount: Amount | None = Field(default=None, exclude_if=_absent)


OperationResult = Annotated[
    TransferOperationResult
    | IssueOperationResult
    | RedeemOperationResult
    | HoldOperationResult
    | CaptureOperationResult
    | VoidOperation
    | ExpireOperation,
    Field(discriminator="type"),
]


class Transaction(Out):
    id: str
    reference_id: str
    status: Literal["Pending", "Completed", "Failed"]
    operations: list[OperationResult] = Field(
        description="as submitted; an Expire is the service's own operation (the expiry of a"
        " hold, referenceId `cloudwallet:expire:<holdId>`), never a client's"
    )
    failure: TransactionFailure | None = Field(default=None, exclude_if=_absent)
    metadata: Metadata = Field(
        default_factory=dict, description="as submitted, immutable; empty when none was given"
    )
    reversal_of: str | None = Field(
        default=None,
        exclude_if=_absent,
        description="on a reversal: the transaction it reverses",
    )
    reversed_by: str | None = Field(
        default=None,
        exclude_if=_absent,
        description="on a reversed transaction: its Completed reversal",
    )
    created_at: Time
    completed_at: Time | None = Field(default=None, exclude_if=_absent)


class Hold(Out):
    """A hold: an amount of `walletId` reserved for a pending Transfer to `toWalletId`, or a
    pending Redeem without it."""

    id: str
    project_id: str
    wallet_id: str
    to_wallet_id: str | None = Field(description="null for a pending Redeem")
    amount: AmountText
    captured_amount: AmountText = Field(description="0 unless Captured")
    status: Literal["Pending", "Captured", "Voided", "Expired"]
    transaction_id: str = Field(description="the transaction whose Hold operation made it")
    resolved_by_transaction_id: str | None = Field(
        description="the transaction that captured, voided or expired it; null while Pending"
    )
    expires_at: Time | None = Field(description="null for a hold that never expires")
    created_at: Time
    resolved_at: Time | None = Field(description="null while Pending")


class TransactionAccepted(Out):
    id: str
    reference_id: str
    status: Literal["Pending"]


class Page(Out, Generic[Item]):
    items: list[Item]
    page: int
    page_size: int
    has_more: bool


class CursorPage(Page[Item], Generic[Item]):
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


class ProjectPage(Page[Project]):
    pass


class AssetPage(Page[Asset]):
    pass


class CustomerPage(Page[Customer]):
    pass


class WalletPage(Page[Wallet]):
    pass


class WalletCursorPage(CursorPage[Wallet]):
    """A page of the project-wide wallet list, which also pages by cursor."""


class EntryPage(CursorPage[Entry]):
    pass


class TransactionPage(CursorPage[Transaction]):
    pass


class HoldPage(CursorPage[Hold]):
    pass


class FieldError(Out):
    """One offending field of a request: `operations[0].amount`, `body`, a query parameter."""

    field: str
    message: str


class ErrorDetails(Out):
    """What an error adds to its message; which keys depend on the code, and a code may add
    keys of its own later (so a reader keeps the keys it does not know)."""

    model_config = ConfigDict(extra="allow")

    fields: list[FieldError] | None = Field(
        default=None, exclude_if=_absent, description="ValidationError: the offending fields"
    )
    request_matches: bool | None = Field(
        default=None,
        exclude_if=_absent,
        description="DuplicateReferenceId: whether this request's body matched the first one",
    )
    transaction: Transaction | None = Field(
        default=None,
        exclude_if=_absent,
        description="DuplicateReferenceId: the transaction that holds the reference ID",
    )
    services: dict[str, str] | None = Field(
        default=None, exclude_if=_absent, description="NotReady: each service's answer"
    )
    wallet_ids: list[str] | None = Field(
        default=None, exclude_if=_absent, description="the wallets a resume could not reopen"
    )
    wallet_count: int | None = Field(
        default=None, exclude_if=_absent, description="AssetInUse: the asset's wallets"
    )
    active_wallet_count: int | None = Field(
        default=None,
        exclude_if=_absent,
        description="CustomerHasActiveWallets: the customer's wallets not Closed",
    )


class Webhook(Out):
    """A webhook endpoint as listed: never its secret."""

    id: str
    url: str
    events: list[str] = Field(description="the event types it receives; * for all")
    description: str
    created_at: Time


class CreatedWebhook(Webhook):
    """A new webhook endpoint, with its signing secret: shown only in this answer."""

    secret: str = Field(
        description="whsec_<base64>: the key that signs every delivery (Standard Webhooks)",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookPage(Page[Webhook]):
    pass


class WebhookDelivery(Out):
    """One attempt to deliver an event to an endpoint."""

    event_id: str = Field(description="the event's id, its webhook-id header")
    event_type: str
    attempt: int = Field(description="1 for the first attempt of this event")
    status_code: int | None = Field(description="the endpoint's HTTP status; null: no answer")
    error: str | None = Field(description="why there was no answer (timeout, refused...)")
    at: Time


class WebhookDeliveryPage(Page[WebhookDelivery]):
    pass


class ErrorDetail(Out):
    # The document shows the code as its `ErrorCode`, every code of ERROR_STATUS
    # (gateway/openapi/document.py); each error response lists the codes its route gives.
    code: str = Field(description="stable, machine-readable")
    message: str
    details: ErrorDetails | None = Field(default=None, exclude_if=_absent)


class ErrorBody(Out):
    error: ErrorDetail


class Health(Out):
    status: Literal["ok"]


class Ready(Out):
    """Every service answered: `services` names each with `ok`."""

    status: Literal["ready"]
    services: dict[str, str]


class TransactionBatchItem(Out):
    """The result of one item: its position in the request, the HTTP status the single submit
    route would have answered, and that body."""

    index: int
    status: Literal[202, 400, 409, 503]
    body: TransactionAccepted | ErrorBody


class TransactionBatchResult(Out):
    """The answer to a batch: one result per item, in the order sent."""

    items: list[TransactionBatchItem]
    accepted: int
    rejected: int


class Key(Out):
    """An API key as listed: never its secret."""

    id: str = Field(description="the key id; an OAuth2 client's client_id")
    name: str
    scope: Literal["full", "read", "customer"]
    project_id: str | None = Field(description="a customer key's project; null otherwise")
    customer_id: str | None = Field(description="a customer key's customer; null otherwise")
    expires_at: Time | None = Field(description="null: the key never expires")
    oauth_client: bool = Field(description="its secret only buys access tokens (/oauth/token)")
    rate_limit_per_s: int | None = Field(description="null: the deployment's default")
    rate_limit_burst: int | None = Field(description="null: the deployment's default")
    created_at: Time


class CreatedKey(Key):
    """A new key, with its secret: shown only in this answer, stored only as a digest."""

    secret: str = Field(
        description="the key to send (Bearer or X-Api-Key), or an OAuth2 client's client_secret"
    )


class KeyPage(Page[Key]):
    pass


class AccessToken(BaseModel):
    """An OAuth2 access token response (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds the token is valid for")
    scope: Literal["full", "read", "customer"]

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class OAuthError(BaseModel):
    """An OAuth2 error response (RFC 6749 section 5.2)."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "unsupported_grant_type",
        "invalid_scope",
        "unauthorized_client",
    ]
    error_description: str
