"""Query strings of the list routes: pages, time windows, order and cursors, validated as
pydantic models (the OpenAPI parameters are generated from them)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from gateway.requests import CustomerId, WalletStatusName
from shared.contract.messages import (
    METADATA_SCHEMA,
    REFERENCE_ID_LENGTH_CEILING,
    RESOURCE_ID_LENGTH_MAX,
    RESOURCE_ID_PATTERN,
    Metadata,
)
from shared.errors import ValidationFailed

_DIGITS = re.compile(r"[0-9]{1,19}")
PAGE_MAX = 10**9
# 9999-12-31T23:59:59.999Z, the last moment a timestamp in a response can show.
EPOCH_MS_MAX = 253_402_300_799_999
CURSOR_LENGTH_MAX = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _digits(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written in digits")
    return value


QueryInt = Annotated[int, BeforeValidator(_digits)]
# Constraints before the validator, so that they also appear in the JSON schema.
PageSize = Annotated[int, Field(ge=1), BeforeValidator(_digits)]
EpochMs = Annotated[int, Field(ge=0, le=EPOCH_MS_MAX), BeforeValidator(_digits)]
Cursor = Annotated[
    str, Field(min_length=1, max_length=CURSOR_LENGTH_MAX, pattern=r"^[A-Za-z0-9_-]+$")
]


def cursor_or_page(value: str | None, info: ValidationInfo) -> str | None:
    """A cursor replaces the page number: the two together are refused."""
    if value is not None and info.data.get("page", 1) != 1:
        raise ValueError("send either cursor or page, not both")
    return value


class PageQuery(BaseModel):
    """`page` from 1 and `pageSize` from 1 to the configured maximum. Every list refuses an
    unknown parameter: a misspelt filter would otherwise list everything."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    page: QueryInt = Field(default=1, ge=1, le=PAGE_MAX, description="page number, from 1")
    page_size: PageSize | None = Field(default=None, alias="pageSize", description="items per page")

    @field_validator("page_size")
    @classmethod
    def _check_page_size(cls, value: int | None, info: ValidationInfo) -> int | None:
        limit = (info.context or {}).get("page_size_max")
        if value is not None and limit is not None and value > limit:
            raise ValueError(f"must be at most {limit}")
        return value

    def size(self, default: int) -> int:
        return self.page_size if self.page_size is not None else default


class WindowQuery(PageQuery):
    """A page of a list whose items were made at a time: `from` and `to` bound it."""

    from_ms: EpochMs | None = Field(
        default=None, alias="from", description="epoch milliseconds, inclusive"
    )
    to_ms: EpochMs | None = Field(
        default=None, alias="to", description="epoch milliseconds, exclusive"
    )

    def window(self) -> tuple[datetime | None, datetime | None]:
        """`from` and `to` as moments (None when absent)."""
        return _moment(self.from_ms), _moment(self.to_ms)


class LedgerQuery(WindowQuery):
    """A page of a time-ordered list, by page number or by cursor."""

    order: Literal["desc", "asc"] = Field(
        default="desc", description="desc: newest first (the default); asc: oldest first"
    )
    cursor: Cursor | None = Field(
        default=None, description="the `nextCursor` of the previous page; replaces `page`"
    )

    _check_cursor = field_validator("cursor")(cursor_or_page)


HoldStatusName = Literal["Pending", "Captured", "Voided", "Expired"]
ResourceIdFilter = Annotated[
    str, Field(min_length=1, max_length=RESOURCE_ID_LENGTH_MAX, pattern=RESOURCE_ID_PATTERN)
]
MetadataFilter = Annotated[
    Metadata,
    WithJsonSchema(
        METADATA_SCHEMA
        | {
            "description": "`metadata[key]=value`, repeatable with other keys: only the items"
            " whose metadata has each key with exactly that value",
            "examples": [{"orderId": "A-1042"}],
        }
    ),
]


class HoldQuery(LedgerQuery):
    """A page of a project's holds, filtered by the wallet they draw on and by status."""

    wallet_id: ResourceIdFilter | None = Field(
        default=None, alias="walletId", description="only the holds on this wallet (`from`)"
    )
    status: HoldStatusName | None = Field(default=None, description="only the holds in this status")


def _moment(epoch_ms: int | None) -> datetime | None:
    if epoch_ms is None:
        return None
    return EPOCH + timedelta(milliseconds=epoch_ms)


class TransactionQuery(LedgerQuery):
    """A page of a project's applied transactions, filtered."""

    wallet_id: ResourceIdFilter | None = Field(
        default=None,
        alias="walletId",
        description="only the Completed transactions that posted an entry to this wallet",
    )
    reference_id: (
        Annotated[str, Field(min_length=1, max_length=REFERENCE_ID_LENGTH_CEILING)] | None
    ) = Field(default=None, alias="referenceId", description="only the transaction of this id")
    status: Literal["Pending", "Completed", "Failed"] | None = Field(
        default=None,
        description="only those in this status (the list holds applied transactions: Pending"
        " lists nothing)",
    )
    metadata: MetadataFilter | None = None


class WalletQuery(WindowQuery):
    """A page of a project's wallets, filtered; `from` and `to` bound their creation."""

    asset_id: ResourceIdFilter | None = Field(
        default=None, alias="assetId", description="only the wallets of this asset"
    )
    customer_id: CustomerId | None = Field(
        default=None, alias="customerId", description="only this customer's wallets"
    )
    type: Literal["customer", "system"] | None = Field(
        default=None, description="only the wallets of this type"
    )
    status: WalletStatusName | None = Field(
        default=None, description="only the wallets in this status"
    )
    metadata: MetadataFilter | None = None
    cursor: Cursor | None = Field(
        default=None, description="the `nextCursor` of the previous page; replaces `page`"
    )

    _check_cursor = field_validator("cursor")(cursor_or_page)


class CustomerQuery(WindowQuery):
    """A page of a project's customers, filtered; `from` and `to` bound their creation."""

    status: Literal["Active", "Suspended"] | None = Field(
        default=None, description="only the customers in this status"
    )
    metadata: MetadataFilter | None = None


class BalanceQuery(BaseModel):
    """The instant of a balance in time."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at: EpochMs | None = Field(
        default=None,
        description="epoch milliseconds: the balance after every entry made at or before it;"
        " now when absent",
    )

    def instant(self) -> datetime | None:
        """`at` as a moment (None when absent)."""
        return _moment(self.at)


# `metadata[key]=value` query parameters, gathered into one `metadata` mapping.
METADATA_PARAMETER = re.compile(r"metadata\[(.*)\]", re.DOTALL)


def single_values(request: web.Request) -> dict[str, Any]:
    """The query string as a plain mapping, with the `metadata[key]=value` parameters gathered
    under `metadata`; a repeated parameter is a 400."""
    values: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for name, value in request.query.items():
        match = METADATA_PARAMETER.fullmatch(name)
        scope, key = (metadata, match[1]) if match else (values, name)
        if key in scope:
            raise _repeated(name)
        scope[key] = value
    if metadata:
        if "metadata" in values:
            raise _repeated("metadata")
        values["metadata"] = metadata
    return values


def _repeated(name: str) -> ValidationFailed:
    return ValidationFailed(
        f"query parameter {name} is repeated",
        details={"fields": [{"field": name, "message": "give it once"}]},
    )
