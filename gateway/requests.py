"""What requests may carry: the bodies of the resource routes and the batch route's envelope,
and the ids in their paths, validated before anything is read or stored (a submitted
transaction is a wire format: `shared.contract.messages.SubmitTransaction`). The OpenAPI
document is generated from these same types, so the document and the validation cannot
disagree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared.contract.messages import (
    RESOURCE_ID_LENGTH_MAX,
    RESOURCE_ID_PATTERN,
    HoldId,
    Metadata,
)
from shared.contract.text import (
    DESCRIPTION_PATTERN,
    ID_PATTERN,
    NAME_PATTERN,
    check_description,
    check_id,
    check_name,
)
from shared.settings import Settings

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


def _number_as_text(value: Any) -> Any:
    """A customer id sent as a JSON integer is its decimal string (the Cloud Wallet API treats
    customer ids as strings)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


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
# Metadata as the document shows it: the shared type's own schema constrains only the keys that
# match its pattern (pydantic writes `patternProperties`), so it would admit any other key with
# any value; this one says what the validator (the shared `Metadata`, unchanged) accepts,
# but for the 8 KiB bound, which JSON Schema cannot state.
MetadataBody = Metadata

# A customer id in a body, which may also be a JSON integer.
BodyCustomerId = Annotated[
    CustomerId,
    BeforeValidator(_number_as_text),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": CUSTOMER_ID_LENGTH_MAX,
                    "pattern": ID_PATTERN,
                    "not": {"enum": sorted(UNADDRESSABLE_IDS)},
                },
                {"type": "integer"},
            ],
            "description": "the caller's own id of the customer (see CustomerId); a JSON"
            " integer is taken as its decimal string",
            "examples": ["customer-42"],
        }
    ),
]
WalletStatusName = Literal["Open", "Suspended", "Closed"]

# Every id a route's path may carry, by its name in the path template.
PATH_PARAMETERS: dict[str, TypeAdapter[str]] = {
    "projectId": TypeAdapter(ResourceId),
    "assetId": TypeAdapter(ResourceId),
    "walletId": TypeAdapter(ResourceId),
    "transactionId": TypeAdapter(ResourceId),
    "holdId": TypeAdapter(HoldId),
    "customerId": TypeAdapter(CustomerId),
    "keyId": TypeAdapter(ResourceId),
    "webhookId": TypeAdapter(ResourceId),
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CreateProject(_Body):
    name: Name


class Rename(_Body):
    name: Name


class RenameProject(_Body):
    """A project's new name; an empty body changes nothing."""

    name: Name | None = None


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
    id: BodyCustomerId
    name: OptionalName | None = None
    description: Description | None = None
    metadata: MetadataBody | None = Field(
        default=None, description="replaces the customer's metadata whole when given"
    )


class PutCustomer(_Body):
    """The body of a PUT on a customer; the id comes from the path. It may be empty."""

    name: OptionalName | None = None
    description: Description | None = None
    metadata: MetadataBody | None = Field(
        default=None, description="replaces the customer's metadata whole when given"
    )


class ReplaceMetadata(_Body):
    """The whole new metadata of a wallet or a customer (`{}` removes it all)."""

    metadata: MetadataBody


class ResumeCustomer(_Body):
    wallet_ids: list[ResourceId] = Field(
        default_factory=list,
        alias="walletIds",
        max_length=WALLET_IDS_PER_RESUME_MAX,
        description="the customer's Suspended wallets to reopen; the others stay as they are",
    )


class OpenWallet(_Body):
    customer_id: BodyCustomerId = Field(alias="customerId")
    asset_id: ResourceId = Field(alias="assetId")
    name: OptionalName = ""
    description: Description = ""
    metadata: MetadataBody = Field(default_factory=dict)


class OpenSystemWallet(_Body):
    asset_id: ResourceId = Field(alias="assetId")
    name: OptionalName = ""
    description: Description = ""
    metadata: MetadataBody = Field(default_factory=dict)


class RenameWallet(_Body):
    name: OptionalName


class DescribeWallet(_Body):
    description: Description


class ChangeWalletStatus(_Body):
    status: Literal["Open", "Active", "Suspended", "Closed"] = Field(
        description="Active is another word for Open (the Cloud Wallet API uses both)"
    )

    def target(self) -> WalletStatusName:
        """The status asked for, Active read as Open."""
        return "Open" if self.status == "Active" else self.status


_TRANSACTIONS_PER_BATCH_MAX_DEFAULT = Settings.default_of("transactions_per_batch_max")


def _check_batch_size(value: list[Any], info: ValidationInfo) -> list[Any]:
    limit = (info.context or {}).get(
        "transactions_per_batch_max", _TRANSACTIONS_PER_BATCH_MAX_DEFAULT
    )
    if len(value) > limit:
        raise ValueError(f"must hold at most {limit} transactions")
    return value


class SubmitTransactionBatch(BaseModel):
    """The body of `POST /projects/{projectId}/transactions/batch`. Each item has the shape of
    `SubmitTransaction` and is validated on its own, so that one bad item fails alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transactions: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=Settings.ceiling_of("transactions_per_batch_max"),
            # Any item is accepted by the envelope: each is validated as a SubmitTransaction
            # on its own and a bad one answers 400 in its own result.
            json_schema_extra={
                "items": {"description": "a SubmitTransaction, validated on its own"}
            },
        ),
    ]

    _transactions = field_validator("transactions")(_check_batch_size)


# An http(s) URL of printable ASCII, as the document states it (the handler checks the host).
WEBHOOK_URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://[!-~]+$"
WebhookEventType = Literal[
    "transaction.completed",
    "transaction.failed",
    "hold.captured",
    "hold.voided",
    "hold.expired",
    "*",
]


def _distinct(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


class CreateWebhook(_Body):
    """A new webhook endpoint (design section 12). The URL is checked further by the handler
    (shared/webhooks/addresses.py): http(s), no credentials, and a public address unless the
    deployment allows private ones."""

    url: str = Field(
        min_length=1,
        max_length=Settings.ceiling_of("webhook_url_length_max"),
        description="where the events are POSTed: an http or https URL of a public address,"
        " without credentials",
        examples=["https://example.com/hooks/cloudwallet"],
        # Documented for generators; the handler checks the rest (shared/webhooks/addresses.py).
        json_schema_extra={"pattern": WEBHOOK_URL_PATTERN},
    )
    events: Annotated[list[WebhookEventType], AfterValidator(_distinct)] = Field(
        min_length=1,
        max_length=12,
        description="the event types to deliver; * for all of them",
    )
    description: Description = ""


# Per-key rate limits a key may be given (requests a second, burst), as the settings allow.
KEY_RATE_PER_S_MAX = Settings.ceiling_of("rate_limit_per_s")
KEY_BURST_MAX = Settings.ceiling_of("rate_limit_burst")


class CreateKey(_Body):
    """A new key (design section 10): a customer key names its project and customer, other
    scopes name neither. `expiresAt` must be in the future, with a time zone."""

    name: Name
    scope: Literal["full", "read", "customer"]
    project_id: ResourceId | None = Field(default=None, alias="projectId")
    customer_id: BodyCustomerId | None = Field(default=None, alias="customerId")
    expires_at: AwareDatetime | None = Field(default=None, alias="expiresAt")
    oauth_client: bool = Field(default=False, alias="oauthClient", strict=True)
    rate_limit_per_s: Annotated[int, Field(ge=1, le=KEY_RATE_PER_S_MAX, strict=True)] | None = (
        Field(
            default=None,
            alias="rateLimitPerS",
            description="requests a second (default: the deployment's rate_limit_per_s)",
        )
    )
    rate_limit_burst: Annotated[int, Field(ge=1, le=KEY_BURST_MAX, strict=True)] | None = Field(
        default=None,
        alias="rateLimitBurst",
        description="requests at once (default: the deployment's rate_limit_burst)",
    )

    @model_validator(mode="after")
    def _check_customer(self) -> CreateKey:
        names_customer = self.project_id is not None or self.customer_id is not None
        if self.scope == "customer" and (self.project_id is None or self.customer_id is None):
            raise ValueError("a customer key needs projectId and customerId")
        if self.scope != "customer" and names_customer:
            raise ValueError("only a customer key names projectId and customerId")
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            raise ValueError("expiresAt must be in the future")
        return self
