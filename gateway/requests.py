"""What requests may carry: the bodies of the resource routes, and the ids in their paths,
validated before anything is read or stored. The OpenAPI document is generated from these
same types, so the document and the validation cannot disagree."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from shared.contract.messages import RESOURCE_ID_LENGTH_MAX, RESOURCE_ID_PATTERN
from shared.contract.text import (
    DESCRIPTION_PATTERN,
    ID_PATTERN,
    NAME_PATTERN,
    check_description,
    check_id,
    check_name,
)

# Lengths the design and the database's checks fix (shared/migrations/0001_init.sql).
NAME_LENGTH_MAX = 200
DESCRIPTION_LENGTH_MAX = 1000
CUSTOMER_ID_LENGTH_MAX = 128
ASSET_CODE_LENGTH_MAX = 16
# Wallets one resume may reopen (a body of 500 ids stays far under request_body_bytes_max).
WALLET_IDS_PER_RESUME_MAX = 500
# "." and ".." cannot travel in a URL path: clients and proxies fold them away.
UNADDRESSABLE_IDS = frozenset({".", ".."})


def _addressable(value: str) -> str:
    if value in UNADDRESSABLE_IDS:
        raise ValueError("must not be '.' or '..'")
    return value


Name = Annotated[
    str,
    Field(min_length=1, max_length=NAME_LENGTH_MAX, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(check_name),
]
OptionalName = Annotated[
    str,
    Field(max_length=NAME_LENGTH_MAX, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(check_name),
]
Description = Annotated[
    str,
    Field(max_length=DESCRIPTION_LENGTH_MAX, json_schema_extra={"pattern": DESCRIPTION_PATTERN}),
    AfterValidator(check_description),
]
ResourceId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=RESOURCE_ID_LENGTH_MAX,
        pattern=RESOURCE_ID_PATTERN,
        description="an id the service made",
        examples=["01JD3ZQ6M2X8Y4TNK7V5B9RCEW"],
    ),
]
CustomerId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=CUSTOMER_ID_LENGTH_MAX,
        description=f"the caller's own id of the customer: 1-{CUSTOMER_ID_LENGTH_MAX} characters,"
        " no control characters, line separators or bidirectional controls, not '.' or '..'",
        examples=["customer-42"],
        json_schema_extra={"pattern": ID_PATTERN, "not": {"enum": sorted(UNADDRESSABLE_IDS)}},
    ),
    AfterValidator(check_id),
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
