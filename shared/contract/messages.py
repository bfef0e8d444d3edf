"""The wire formats: operations and transactions as clients submit them over HTTP and as
internal services publish them to the queue (versioned JSON, validated here, never pickled)."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol, cast

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared.contract.text import DESCRIPTION_PATTERN, ID_PATTERN, check_description, check_id
from shared.core import ledger
from shared.core.ledger import AMOUNT_MAX, HOLD_TIMEOUT_S_MAX, Operation, OperationType
from shared.errors import invariant
from shared.settings import Settings

# The longest amount string accepted, leading zeros included: as many digits as AMOUNT_MAX has.
AMOUNT_DIGITS_MAX = len(str(AMOUNT_MAX))
_DIGITS = re.compile(rf"[0-9]{{1,{AMOUNT_DIGITS_MAX}}}")
# Ids the service makes (projects, wallets, assets, transactions), as every route and message
# accepts them.
RESOURCE_ID_LENGTH_MAX = 64
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
# The configured limits are defined once, in Settings: their defaults apply to a model validated
# without the settings as its context, and their ceilings bound a string or a list before the
# configured limit is checked.
_OPERATIONS_MAX_DEFAULT = Settings.default_of("operations_per_transaction_max")
_REFERENCE_ID_LENGTH_MAX_DEFAULT = Settings.default_of("reference_id_length_max")
OPERATIONS_CEILING = Settings.ceiling_of("operations_per_transaction_max")
REFERENCE_ID_LENGTH_CEILING = Settings.ceiling_of("reference_id_length_max")
TRANSACTIONS_PER_MESSAGE_CEILING = Settings.ceiling_of("transactions_per_batch_max")
MESSAGE_VERSION: Literal[1] = 1


class Row(Protocol):
    """A database row, read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


def parse_amount(value: object) -> int:
    """Accept a string of digits or a JSON integer between 1 and 2^127-1; refuse all else."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("amount must be a string of digits or an integer")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("amount must be a string of digits")
        value = int(value)
    if not 1 <= value <= AMOUNT_MAX:
        raise ValueError("amount must be between 1 and 2^127-1")
    return value


def _digits_at_most(bound: str, lowest: int = 0) -> str:
    """A regular expression for the strings of len(bound) digits, the first at least `lowest`,
    whose value is at most `bound`: a smaller first digit and any rest, or the same first digit
    and a rest at most the rest of `bound`."""
    first, rest = int(bound[0]), bound[1:]
    invariant(lowest <= first, f"no first digit from {lowest} up keeps the value at most {bound}")
    if not rest:
        return f"[{lowest}-{first}]" if lowest < first else str(first)
    same_first = f"{first}{_digits_at_most(rest)}"
    if lowest == first:
        return same_first
    smaller = f"[{lowest}-{first - 1}]" if lowest < first - 1 else str(lowest)
    return f"(?:{smaller}[0-9]{{{len(rest)}}}|{same_first})"


def amount_pattern() -> str:
    """The pattern of the strings `parse_amount` accepts, with `maxLength` AMOUNT_DIGITS_MAX
    (which bounds the leading zeros): a value of fewer significant digits than AMOUNT_MAX is
    always in range, one of as many digits only up to AMOUNT_MAX itself."""
    shorter = f"0*[1-9][0-9]{{0,{AMOUNT_DIGITS_MAX - 2}}}"
    return f"^(?:{shorter}|{_digits_at_most(str(AMOUNT_MAX), lowest=1)})$"


Amount = Annotated[
    int,
    BeforeValidator(parse_amount),
    PlainSerializer(str, return_type=str, when_used="json"),
    # Requests may send the amount as a string of digits or as a JSON integer; responses
    # always write a string.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": AMOUNT_DIGITS_MAX, "pattern": amount_pattern()},
                {"type": "integer", "minimum": 1, "maximum": AMOUNT_MAX},
            ],
            "description": "integer in the asset's smallest unit, 1 to 2^127-1: a string of"
            f" at most {AMOUNT_DIGITS_MAX} digits, or a JSON integer written without a fraction"
            " or an exponent",
            "examples": ["2000"],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{1,39}$",
            "description": "integer in the asset's smallest unit, 1 to 2^127-1",
            "examples": ["2000"],
        },
        mode="serialization",
    ),
]
WalletId = Annotated[
    str, Field(min_length=1, max_length=RESOURCE_ID_LENGTH_MAX, pattern=RESOURCE_ID_PATTERN)
]
HoldId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=RESOURCE_ID_LENGTH_MAX,
        pattern=RESOURCE_ID_PATTERN,
        description="the id of a hold, as the completed transaction that made it shows it",
        examples=["01JDQ7Y2ZK8V3N4B5C6D7E8F9G-0"],
    ),
]


# Metadata (design section 9): string keys of 1-64 characters of A-Za-z0-9_.- to string values
# of at most 512 characters (no control characters but layout ones, as descriptions), at most
# 32 keys and 8 KiB as JSON.
METADATA_KEYS_MAX = 32
METADATA_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
METADATA_VALUE_LENGTH_MAX = 512
METADATA_BYTES_MAX = 8 * 1024


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    for text in value.values():
        check_description(text)
    if len(orjson.dumps(value)) > METADATA_BYTES_MAX:
        raise ValueError(f"must be at most {METADATA_BYTES_MAX} bytes as JSON")
    return value


# The schema pydantic derives lists the keys of the pattern as patternProperties, which lets
# any other key through; this one refuses what the validator refuses.
METADATA_SCHEMA = {
    "type": "object",
    "maxProperties": METADATA_KEYS_MAX,
    "propertyNames": {"pattern": METADATA_KEY_PATTERN},
    "additionalProperties": {
        "type": "string",
        "maxLength": METADATA_VALUE_LENGTH_MAX,
        "pattern": DESCRIPTION_PATTERN,
    },
    "description": f"your own labels: at most {METADATA_KEYS_MAX} keys of 1-64 characters of"
    f" A-Za-z0-9_.- to strings of at most {METADATA_VALUE_LENGTH_MAX} characters, at most"
    f" {METADATA_BYTES_MAX} bytes as JSON",
    "examples": [{"orderId": "A-1042", "channel": "web"}],
}
Metadata = Annotated[
    dict[
        Annotated[str, Field(pattern=METADATA_KEY_PATTERN, min_length=1, max_length=64)],
        Annotated[str, Field(max_length=METADATA_VALUE_LENGTH_MAX, strict=True)],
    ],
    Field(max_length=METADATA_KEYS_MAX),
    AfterValidator(_check_metadata),
    WithJsonSchema(METADATA_SCHEMA),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=False)


class TransferOperation(_Model):
    type: Literal["Transfer"]
    from_wallet_id: WalletId = Field(alias="from")
    to_wallet_id: WalletId = Field(alias="to")
    amount: Amount


class IssueOperation(_Model):
    type: Literal["Issue"]
    to_wallet_id: WalletId = Field(alias="to")
    amount: Amount


class RedeemOperation(_Model):
    type: Literal["Redeem"]
    from_wallet_id: WalletId = Field(alias="from")
    amount: Amount


class HoldOperation(_Model):
    """Reserve `amount` of `from`: a pending Transfer to `to`, or a pending Redeem without it,
    expiring `timeoutS` seconds after its transaction completes (never, without it)."""

    type: Literal["Hold"]
    from_wallet_id: WalletId = Field(alias="from")
    to_wallet_id: WalletId | None = Field(default=None, alias="to")
    amount: Amount
    timeout_s: int | None = Field(
        default=None,
        alias="timeoutS",
        ge=1,
        le=HOLD_TIMEOUT_S_MAX,
        strict=True,
        description=f"seconds from the transaction's completion to the hold's expiry, 1 to"
        f" {HOLD_TIMEOUT_S_MAX:,}; without it the hold never expires",
    )


class CaptureOperation(_Model):
    """Apply the hold's pending Transfer or Redeem for `amount` (the whole hold without it) and
    release the rest."""

    type: Literal["Capture"]
    hold_id: HoldId = Field(alias="holdId")
    amount: Amount | None = None


class VoidOperation(_Model):
    """Release the whole hold."""

    type: Literal["Void"]
    hold_id: HoldId = Field(alias="holdId")


class ExpireOperation(_Model):
    """Release an expired hold: the service's own operation (docs/decisions/0017-holds-storage-
    and-expiry.md), published by the partition's expiry scanner. The gateway does not take it."""

    type: Literal["Expire"]
    hold_id: HoldId = Field(alias="holdId")


PlainOperation = TransferOperation | IssueOperation | RedeemOperation
SubmittedOperation = (
    TransferOperation
    | IssueOperation
    | RedeemOperation
    | HoldOperation
    | CaptureOperation
    | VoidOperation
)
AnyOperation = SubmittedOperation | ExpireOperation
OperationModel = Annotated[SubmittedOperation, Field(discriminator="type")]
QueuedOperationModel = Annotated[AnyOperation, Field(discriminator="type")]


def _check_reference_id(value: str, info: ValidationInfo) -> str:
    limit = (info.context or {}).get("reference_id_length_max", _REFERENCE_ID_LENGTH_MAX_DEFAULT)
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return check_id(value)


def _check_operations(value: list[Any], info: ValidationInfo) -> list[Any]:
    limit = (info.context or {}).get("operations_per_transaction_max", _OPERATIONS_MAX_DEFAULT)
    if len(value) > limit:
        raise ValueError(f"must hold at most {limit} operations")
    return value


# Reference IDs the service gives its own transactions (the expiry of a hold): no client or
# internal publisher may take one, or a hold would never expire
# (docs/decisions/0017-holds-storage-and-expiry.md).
RESERVED_REFERENCE_PREFIX = "cloudwallet:"
EXPIRY_REFERENCE_PREFIX = RESERVED_REFERENCE_PREFIX + "expire:"


def expiry_reference(hold_id: str) -> str:
    """The reference ID of the transaction that expires `hold_id`: one per hold, so that the
    expiry, however often published, applies once."""
    return EXPIRY_REFERENCE_PREFIX + hold_id


def _check_submitted_reference(value: str) -> str:
    if value.startswith(RESERVED_REFERENCE_PREFIX):
        raise ValueError(f"must not begin with {RESERVED_REFERENCE_PREFIX!r} (reserved)")
    return value


class _Submission(_Model):
    """What every submission has: the caller's reference ID, and metadata."""

    reference_id: str = Field(
        alias="referenceId",
        min_length=1,
        max_length=REFERENCE_ID_LENGTH_CEILING,
        json_schema_extra={"pattern": ID_PATTERN},
        description="the caller's idempotency key, unique per project",
    )
    metadata: Metadata | None = None

    _reference_id = field_validator("reference_id")(_check_reference_id)
    _reserved = field_validator("reference_id")(_check_submitted_reference)


class SubmitTransaction(_Submission):
    """The body of `POST /projects/{projectId}/transactions`."""

    operations: list[OperationModel] = Field(min_length=1, max_length=OPERATIONS_CEILING)

    _operations = field_validator("operations")(_check_operations)


class SubmitReversal(_Submission):
    """The body of `POST /projects/{projectId}/transactions/{transactionId}/reversal`: the
    reversal's own reference ID."""


class TransactionMessage(_Model):
    """A transaction on the queue: what the gateway and internal services publish (version 1)."""

    v: Literal[1] = MESSAGE_VERSION
    id: Annotated[str, Field(min_length=1, max_length=30, pattern=RESOURCE_ID_PATTERN)]
    project_id: Annotated[str, AfterValidator(check_id)] = Field(
        alias="projectId", min_length=1, max_length=RESOURCE_ID_LENGTH_MAX
    )
    reference_id: str = Field(
        alias="referenceId", min_length=1, max_length=REFERENCE_ID_LENGTH_CEILING
    )
    operations: list[QueuedOperationModel] = Field(
        default_factory=list, max_length=OPERATIONS_CEILING
    )
    submitted_at: datetime = Field(alias="submittedAt")
    metadata: Metadata | None = None
    # A reversal carries no operations: the writer applies the inverse of the transaction's.
    reversal_of: str | None = Field(
        default=None,
        alias="reversalOf",
        min_length=1,
        max_length=RESOURCE_ID_LENGTH_MAX,
        pattern=RESOURCE_ID_PATTERN,
    )

    _reference_id = field_validator("reference_id")(_check_reference_id)
    _operations = field_validator("operations")(_check_operations)

    @model_validator(mode="after")
    def _shape(self) -> TransactionMessage:
        """Operations, or a reversal without them; an Expire travels alone, under its hold's
        expiry reference ID, which nothing else may take."""
        operations = self.operations
        if (self.reversal_of is None) != bool(operations):
            raise ValueError("a transaction has operations, or is a reversal without them")
        expiring = False
        for op in operations:
            expiring = expiring or op.type == "Expire"
        if expiring or self.reference_id.startswith(RESERVED_REFERENCE_PREFIX):
            first = operations[0] if operations else None
            if (
                len(operations) != 1
                or not isinstance(first, ExpireOperation)
                or self.reference_id != expiry_reference(first.hold_id)
            ):
                raise ValueError(
                    "an Expire operation travels alone, with the referenceId"
                    f" {EXPIRY_REFERENCE_PREFIX}<holdId>, which nothing else may take"
                )
        return self

    def to_json(self) -> bytes:
        """The message body as published."""
        return orjson.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True))


TRANSACTION_BATCH_TYPE = "cloudwallet.transaction-batch"


class TransactionBatchMessage(_Model):
    """Several transactions of one project in one queue message (AMQP `type` property
    `cloudwallet.transaction-batch`), applied in order exactly as if each had been published on
    its own: each keeps its own id and referenceId and gets its own final state and event. The
    gateway publishes these (`queue_messages`), so that many transactions cost the broker one
    message."""

    v: Literal[1] = MESSAGE_VERSION
    transactions: list[TransactionMessage] = Field(
        min_length=1, max_length=TRANSACTIONS_PER_MESSAGE_CEILING
    )

    @field_validator("transactions")
    @classmethod
    def _one_project(cls, value: list[TransactionMessage]) -> list[TransactionMessage]:
        if len({message.project_id for message in value}) != 1:
            raise ValueError("all transactions of a batch message belong to one project")
        return value


_BATCH_OPENING = b'{"v":1,"transactions":['
_BATCH_CLOSING = b"]}"


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """An encoded message for a partition queue: one transaction, or a batch message of several
    (`batch`), named by the id of its first transaction."""

    message_id: str
    body: bytes
    batch: bool


def queue_messages(bodies: list[dict[str, Any]], bytes_max: int) -> list[QueueMessage]:
    """The queue messages that carry `bodies` (`message_body` objects of one project), in order:
    consecutive transactions share a batch message while it stays within `bytes_max` bytes, and
    a message of one transaction is a plain TransactionMessage, however large. A writer holds
    a few thousand deliveries at a time, so the size of a delivery is what bounds its memory."""
    groups: list[tuple[str, list[bytes]]] = []  # (first transaction id, encoded transactions)
    group_bytes = 0  # of the last group as a batch message
    for body in bodies:
        encoded = orjson.dumps(body)
        if groups and group_bytes + 1 + len(encoded) <= bytes_max:  # 1: the comma
            groups[-1][1].append(encoded)
            group_bytes += 1 + len(encoded)
        else:
            groups.append((body["id"], [encoded]))
            group_bytes = len(_BATCH_OPENING) + len(encoded) + len(_BATCH_CLOSING)
    return [
        QueueMessage(first_id, encoded[0], batch=False)
        if len(encoded) == 1
        else QueueMessage(
            first_id, b"".join((_BATCH_OPENING, b",".join(encoded), _BATCH_CLOSING)), batch=True
        )
        for first_id, encoded in groups
    ]


def message_body(
    *,
    transaction_id: str,
    project_id: str,
    reference_id: str,
    operations: list[dict[str, Any]],
    submitted_at: datetime,
    metadata: dict[str, str] | None = None,
    reversal_of: str | None = None,
) -> dict[str, Any]:
    """A TransactionMessage as the JSON object published, built from values already valid
    (operations as `operations_json` gives them) without a second validation."""
    body = {
        "v": MESSAGE_VERSION,
        "id": transaction_id,
        "projectId": project_id,
        "referenceId": reference_id,
        "operations": operations,
        "submittedAt": submitted_at,
    }
    if metadata is not None:
        body["metadata"] = metadata
    if reversal_of is not None:
        body["reversalOf"] = reversal_of
    return body


_OPERATION_TYPES = {kind.value: kind for kind in OperationType}  # a dict beats Enum()


def hold_id(transaction_id: str, operation_index: int) -> str:
    """The id of the hold made by a transaction's Hold operation: at most 29 characters, URL-safe
    and time-ordered with its transaction (docs/decisions/0017-holds-storage-and-expiry.md)."""
    return f"{transaction_id}-{operation_index}"


def to_core(operations: Sequence[AnyOperation], transaction_id: str) -> list[ledger.AnyOperation]:
    """The wire operations of transaction `transaction_id` as the ledger core takes them."""
    core: list[ledger.AnyOperation] = []
    append = core.append
    for index, op in enumerate(operations):
        kind = _OPERATION_TYPES.get(op.type)
        if kind is not None:  # a dict lookup: the plain operations are most, and the hot path
            fields = vars(op)  # a field the model has not: a dict lookup, not __getattr__
            append(
                Operation(
                    kind,
                    cast(PlainOperation, op).amount,
                    fields.get("from_wallet_id"),
                    fields.get("to_wallet_id"),
                )
            )
        elif isinstance(op, HoldOperation):
            append(
                ledger.HoldOperation(
                    hold_id(transaction_id, index),
                    op.from_wallet_id,
                    op.amount,
                    op.to_wallet_id,
                    op.timeout_s,
                )
            )
        elif isinstance(op, CaptureOperation):
            append(ledger.CaptureOperation(op.hold_id, op.amount))
        elif isinstance(op, VoidOperation):
            append(ledger.VoidOperation(op.hold_id))
        else:
            append(ledger.ExpireOperation(cast(ExpireOperation, op).hold_id))
    return core


def operations_json(operations: Sequence[AnyOperation]) -> list[dict[str, Any]]:
    """The operations as the API shows them (amounts as strings of digits; a Hold's `to` and
    `timeoutS`, and a Capture's `amount`, only when given)."""
    return [_operation_json(op) for op in operations]


def _operation_json(op: AnyOperation) -> dict[str, Any]:
    """One operation as `model_dump(mode="json", by_alias=True, exclude_none=True)` gives it,
    written out for the plain operations, which are most: a quarter of its time on the
    writer's path of every transaction (tests/unit/test_messages.py holds the two equal)."""
    fields = vars(op)
    kind = fields["type"]
    if kind == "Transfer":
        return {
            "type": kind,
            "from": fields["from_wallet_id"],
            "to": fields["to_wallet_id"],
            "amount": str(fields["amount"]),
        }
    if kind == "Issue":
        return {"type": kind, "to": fields["to_wallet_id"], "amount": str(fields["amount"])}
    if kind == "Redeem":
        return {"type": kind, "from": fields["from_wallet_id"], "amount": str(fields["amount"])}
    return op.model_dump(mode="json", by_alias=True, exclude_none=True)


def with_hold_ids(operations: list[dict[str, Any]], transaction_id: str) -> list[dict[str, Any]]:
    """`operations` (as `operations_json` gives them) of a completed transaction, each Hold with
    the id of the hold it made; the same list when there is none."""
    for op in operations:  # a plain loop: a third of any()'s time over a generator
        if op["type"] == "Hold":
            break
    else:
        return operations
    return [
        {**op, "holdId": hold_id(transaction_id, index)} if op["type"] == "Hold" else op
        for index, op in enumerate(operations)
    ]


def request_digest(
    operations: list[dict[str, Any]],
    metadata: dict[str, str] | None = None,
    reversal_of: str | None = None,
) -> bytes:
    """A digest of a request (its operations, or the transaction it reverses, and its
    metadata), to tell a retried request from a different one. A request of operations alone
    digests them alone, as before metadata and reversals existed."""
    if metadata is None and reversal_of is None:
        document: Any = operations
    else:
        document = {"operations": operations, "metadata": metadata, "reversalOf": reversal_of}
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).digest()


@functools.lru_cache(maxsize=4096)
def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as every response shows times. Cached: a batch
    formats the same few instants (its commit time, its messages' submission times) often."""
    # isoformat truncates to milliseconds, as the API does, and is several times faster than
    # strftime; its "+00:00" becomes "Z".
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def transaction_body(
    *,
    transaction_id: str,
    reference_id: str,
    status: str,
    operations: list[dict[str, Any]],
    created_at: datetime,
    completed_at: datetime | None = None,
    failure: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    reversal_of: str | None = None,
    reversed_by: str | None = None,
) -> dict[str, Any]:
    """A transaction as the API, the status cache and the events show it: `metadata` always
    (empty when none was given), `reversalOf` and `reversedBy` only when there is one."""
    body: dict[str, Any] = {
        "id": transaction_id,
        "referenceId": reference_id,
        "status": status,
        "operations": operations,
        "metadata": {} if metadata is None else metadata,
        "createdAt": format_time(created_at),
    }
    if completed_at is not None:
        body["completedAt"] = format_time(completed_at)
    if failure is not None:
        body["failure"] = failure
    if reversal_of is not None:
        body["reversalOf"] = reversal_of
    if reversed_by is not None:
        body["reversedBy"] = reversed_by
    return body


def is_expiry(message: TransactionMessage) -> bool:
    """Whether `message` is the service's expiry of a hold."""
    return message.reference_id.startswith(EXPIRY_REFERENCE_PREFIX)


def hold_body(
    *,
    hold_id: str,
    project_id: str,
    wallet_id: str,
    to_wallet_id: str | None,
    amount: int,
    captured_amount: int,
    status: str,
    transaction_id: str,
    resolved_by_transaction_id: str | None,
    expires_at: datetime | None,
    created_at: datetime,
    resolved_at: datetime | None,
) -> dict[str, Any]:
    """A hold as the API and the events show it."""
    return {
        "id": hold_id,
        "projectId": project_id,
        "walletId": wallet_id,
        "toWalletId": to_wallet_id,
        "amount": str(amount),
        "capturedAmount": str(captured_amount),
        "status": status,
        "transactionId": transaction_id,
        "resolvedByTransactionId": resolved_by_transaction_id,
        "expiresAt": None if expires_at is None else format_time(expires_at),
        "createdAt": format_time(created_at),
        "resolvedAt": None if resolved_at is None else format_time(resolved_at),
    }


def hold_from_row(row: Row) -> dict[str, Any]:
    """A stored hold row as the API shows it."""
    return hold_body(
        hold_id=row["id"],
        project_id=row["project_id"],
        wallet_id=row["wallet_id"],
        to_wallet_id=row["to_wallet_id"],
        amount=int(row["amount"]),
        captured_amount=int(row["captured_amount"]),
        status=row["status"],
        transaction_id=row["transaction_id"],
        resolved_by_transaction_id=row["resolved_by_transaction_id"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        resolved_at=row["resolved_at"],
    )


def transaction_from_row(row: Row) -> dict[str, Any]:
    """A stored transaction row as the API shows it."""
    return transaction_body(
        transaction_id=row["id"],
        reference_id=row["reference_id"],
        status=row["status"],
        operations=row["operations"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
        failure=row["failure"],
        metadata=row["metadata"],
        reversal_of=row["reversal_of"],
        reversed_by=row["reversed_by"],
    )
