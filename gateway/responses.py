"""What responses carry: every body the gateway answers is one of these models, serialized by
it, and the OpenAPI document describes the same models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from shared.contract.messages import OperationModel, format_time

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

    model_config = ConfigDict(frozen=True, populate_by_name=True, alias_generator=to_camel)

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


class Customer(Out):
    id: str
    name: str
    description: str
    status: Literal["Active", "Suspended"]
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
    created_at: Time
    updated_at: Time


class Entry(Out):
    id: EntryId
    wallet_id: str
    transaction_id: str
    operation_index: int
    type: Literal["Issue", "Redeem", "Debit", "Credit"]
    amount: AmountText
    balance_after: AmountText
    counterparty_wallet_id: str | None = Field(
        description="the other wallet of a transfer; null for Issue and Redeem"
    )
    created_at: Time


class TransactionFailure(Out):
    operation_index: int
    code: str
    message: str


def _absent(value: object) -> bool:
    return value is None


class Transaction(Out):
    id: str
    reference_id: str
    status: Literal["Pending", "Completed", "Failed"]
    operations: list[OperationModel]
    failure: TransactionFailure | None = Field(default=None, exclude_if=_absent)
    created_at: Time
    completed_at: Time | None = Field(default=None, exclude_if=_absent)


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


class EntryPage(CursorPage[Entry]):
    pass


class TransactionPage(CursorPage[Transaction]):
    pass


class ErrorDetail(Out):
    code: str = Field(description="stable, machine-readable")
    message: str
    details: dict[str, Any] | None = Field(default=None, exclude_if=_absent)


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
