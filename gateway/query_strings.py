"""Query strings of the list routes: pages, time windows, order and cursors, validated as
pydantic models (the OpenAPI parameters are generated from them)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from shared.contract.messages import RESOURCE_ID_LENGTH_MAX, RESOURCE_ID_PATTERN
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


class PageQuery(BaseModel):
    """`page` from 1 and `pageSize` from 1 to the configured maximum."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

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


class LedgerQuery(PageQuery):
    """A page of a time-ordered list, by page number or by cursor."""

    from_ms: EpochMs | None = Field(
        default=None, alias="from", description="epoch milliseconds, inclusive"
    )
    to_ms: EpochMs | None = Field(
        default=None, alias="to", description="epoch milliseconds, exclusive"
    )
    order: Literal["desc", "asc"] = Field(
        default="desc", description="desc: newest first (the default); asc: oldest first"
    )
    cursor: Cursor | None = Field(
        default=None, description="the `nextCursor` of the previous page; replaces `page`"
    )

    @field_validator("cursor")
    @classmethod
    def _check_cursor_or_page(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("page", 1) != 1:
            raise ValueError("send either cursor or page, not both")
        return value

    def window(self) -> tuple[datetime | None, datetime | None]:
        """`from` and `to` as moments (None when absent)."""
        return _moment(self.from_ms), _moment(self.to_ms)


HoldStatusName = Literal["Pending", "Captured", "Voided", "Expired"]


class HoldQuery(LedgerQuery):
    """A page of a project's holds, filtered by the wallet they draw on and by status. Unlike
    the older lists, an unknown parameter is refused (a misspelt filter would otherwise list
    everything)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    wallet_id: (
        Annotated[
            str,
            Field(min_length=1, max_length=RESOURCE_ID_LENGTH_MAX, pattern=RESOURCE_ID_PATTERN),
        ]
        | None
    ) = Field(default=None, alias="walletId", description="only the holds on this wallet (`from`)")
    status: HoldStatusName | None = Field(default=None, description="only the holds in this status")


def _moment(epoch_ms: int | None) -> datetime | None:
    if epoch_ms is None:
        return None
    return EPOCH + timedelta(milliseconds=epoch_ms)


def single_values(request: web.Request) -> dict[str, str]:
    """The query string as a plain mapping; a repeated parameter is a 400."""
    values: dict[str, str] = {}
    for name, value in request.query.items():
        if name in values:
            raise ValidationFailed(
                f"query parameter {name} is repeated",
                details={"fields": [{"field": name, "message": "give it once"}]},
            )
        values[name] = value
    return values
