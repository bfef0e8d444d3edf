"""Request bodies of the resource routes, validated before anything is stored."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control)]
OptionalName = Annotated[str, Field(max_length=200), AfterValidator(_no_control)]
Description = Annotated[str, Field(max_length=1000)]
ResourceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
CustomerId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_control)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CreateProject(_Body):
    name: Name


class Rename(_Body):
    name: Name


class CreateAsset(_Body):
    name: Name
    code: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_.-]+$")]
    fractions: Annotated[int, Field(strict=True, ge=1, le=10**18)]


class UpsertCustomer(_Body):
    id: CustomerId
    name: OptionalName | None = None
    description: Description | None = None


class UpdateCustomer(_Body):
    name: OptionalName | None = None
    description: Description | None = None


class OpenWallet(_Body):
    customer_id: CustomerId = Field(alias="customerId")
    asset_id: ResourceId = Field(alias="assetId")
    name: OptionalName = ""
    description: Description = ""


class OpenSystemWallet(_Body):
    asset_id: ResourceId = Field(alias="assetId")
    name: OptionalName = ""
    description: Description = ""
