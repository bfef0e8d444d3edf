"""What requests may carry: the bodies of the resource routes, and the ids in their paths,
validated before anything is read or stored. The OpenAPI document is generated from these
same types, so the document and the validation cannot disagree."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from shared.messages import TEXT_PATTERN

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LAYOUT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DESCRIPTION_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
WALLET_IDS_PER_RESUME_MAX = 500
ASSET_CODE_LENGTH_MAX = 16
# "." and ".." cannot travel in a URL path: clients and proxies fold them away.
UNADDRESSABLE_IDS = frozenset({".", ".."})


def _valid_unicode(value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (no lone surrogates)") from None


def _plain_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    _valid_unicode(value)
    return value


def _layout_text(value: str) -> str:
    if _CONTROL_BUT_LAYOUT.search(value):
        raise ValueError("must not contain control characters other than tab and new lines")
    _valid_unicode(value)
    return value


def _addressable(value: str) -> str:
    if value in UNADDRESSABLE_IDS:
        raise ValueError("must not be '.' or '..'")
    return value


Name = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": TEXT_PATTERN}),
    AfterValidator(_plain_text),
]
OptionalName = Annotated[
    str,
    Field(max_length=200, json_schema_extra={"pattern": TEXT_PATTERN}),
    AfterValidator(_plain_text),
]
Description = Annotated[
    str,
    Field(max_length=1000, json_schema_extra={"pattern": DESCRIPTION_PATTERN}),
    AfterValidator(_layout_text),
]
ResourceId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=RESOURCE_ID_PATTERN,
        description="an id the service made",
        examples=["01JD3ZQ6M2X8Y4TNK7V5B9RCEW"],
    ),
]
CustomerId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description="the caller's own id of the customer: 1-128 characters, no control"
        " characters, not '.' or '..'",
        examples=["customer-42"],
        json_schema_extra={"pattern": TEXT_PATTERN, "not": {"enum": sorted(UNADDRESSABLE_IDS)}},
    ),
    AfterValidator(_plain_text),
    AfterValidator(_addressable),
]
WalletStatusName = Literal["Open", "Suspended", "Closed"]

# Every id a route's path may carry, by its name in the path template.
PATH_PARAMETERS: dict[str, TypeAdapter[str]] = {
    "projectId": TypeAdapter(ResourceId),
    "assetId": TypeAdapter(ResourceId),
    "walletId": TypeAdapter(ResourceId),
    "transactionId": TypeAdapter(ResourceId),
    "customerId": TypeAdapter(CustomerId),
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CreateProject(_Body):
    name: Name


class Rename(_Body):
    name: Name


class CreateAsset(_Body):
    name: Name
    code: Annotated[
        str,
        Field(
            min_length=1,
            max_length=ASSET_CODE_LENGTH_MAX,
            pattern=r"^[A-Za-z0-9_.-]+$",
            description="unique in the project",
        ),
    ]
    fractions: Annotated[
        int,
        Field(
            strict=True,
            ge=1,
            le=10**18,
            description="smallest units per unit: 100 for cents; a JSON integer written without"
            " a fraction or an exponent",
        ),
    ]


class UpsertCustomer(_Body):
    id: CustomerId
    name: OptionalName | None = None
    description: Description | None = None


class PutCustomer(_Body):
    """The body of a PUT on a customer; the id comes from the path."""

    name: OptionalName | None = None
    description: Description | None = None


class ResumeCustomer(_Body):
    wallet_ids: list[ResourceId] = Field(
        default_factory=list,
        alias="walletIds",
        max_length=WALLET_IDS_PER_RESUME_MAX,
        description="the customer's Suspended wallets to reopen; the others stay as they are",
    )


class OpenWallet(_Body):
    customer_id: CustomerId = Field(alias="customerId")
    asset_id: ResourceId = Field(alias="assetId")
    name: OptionalName = ""
    description: Description = ""


class OpenSystemWallet(_Body):
    asset_id: ResourceId = Field(alias="assetId")
    name: OptionalName = ""
    description: Description = ""


class RenameWallet(_Body):
    name: OptionalName


class DescribeWallet(_Body):
    description: Description


class ChangeWalletStatus(_Body):
    status: WalletStatusName
