"""Batch submission: up to `transactions_per_batch_max` independent transactions in one request,
each with its own referenceId, deduplicated and answered one by one.

The batch as a whole answers 202 with one result per item, in the order sent: the item's own
HTTP status and the body the single submit route would have answered (the Pending transaction,
or an error in the API's error shape). A bad item or a duplicate referenceId (earlier in the
same batch, or of an earlier transaction) fails alone. Only a malformed envelope (400), a batch
over the limit (400), or the reference cache or the broker being unavailable (503, nothing
accepted) fail the request as a whole.

The reference IDs are reserved in one Redis round trip, and the accepted items are published
as one TransactionBatchMessage: one broker confirm per batch, and the worker applies the items
in the order sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from gateway.handlers.transactions import (
    Submission,
    accepted_body,
    current_states,
    duplicate,
    prepare,
    submission_context,
)
from gateway.http import decode_json, field_errors, json_response, validate
from gateway.keys import PUBLISHER, SETTINGS, STATUS_CACHE, SUBMISSION_LIMITS
from shared.errors import ApiError, ValidationFailed
from shared.messages import SubmitTransaction

TRANSACTIONS_PER_BATCH_MAX_DEFAULT = 1000


def _check_batch_size(value: list[Any], info: ValidationInfo) -> list[Any]:
    limit = (info.context or {}).get(
        "transactions_per_batch_max", TRANSACTIONS_PER_BATCH_MAX_DEFAULT
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
            max_length=10_000,
            json_schema_extra={"items": {"$ref": "#/components/schemas/SubmitTransaction"}},
        ),
    ]

    _transactions = field_validator("transactions")(_check_batch_size)


class AcceptedTransaction(BaseModel):
    """An accepted item: what the single submit route answers with 202."""

    id: str
    reference_id: str = Field(alias="referenceId")
    status: Literal["Pending"]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """A refused item: the API's error shape."""

    error: ErrorDetail


class TransactionBatchItem(BaseModel):
    """The result of one item: its position in the request, its HTTP status, and its body."""

    index: int
    status: Literal[202, 400, 409]
    body: AcceptedTransaction | ErrorBody


class TransactionBatchResult(BaseModel):
    """The answer to a batch: one result per item, in the order sent."""

    items: list[TransactionBatchItem]
    accepted: int
    rejected: int


def _accepted(index: int, submission: Submission) -> dict[str, Any]:
    return {"index": index, "status": 202, "body": accepted_body(submission.claim)}


def _refused(index: int, error: ApiError) -> dict[str, Any]:
    return {"index": index, "status": error.status, "body": error.body()}


async def submit_transaction_batch(request: web.Request) -> web.Response:
    async with request.app[SUBMISSION_LIMITS].batch.slot():
        return await _submit_transaction_batch(request)


async def _submit_transaction_batch(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    project_id = request.match_info["projectId"]
    raw = await request.read()
    envelope = validate(
        SubmitTransactionBatch,
        decode_json(raw) if raw else None,
        context={"transactions_per_batch_max": settings.transactions_per_batch_max},
    )
    results: list[dict[str, Any] | None] = [None] * len(envelope.transactions)
    fresh: list[tuple[int, Submission]] = []
    repeats: list[tuple[int, Submission, int]] = []  # (index, submission, index of the first)
    first_of_reference: dict[str, int] = {}
    context = submission_context(settings)
    submitted_at = datetime.now(UTC)
    for index, item in enumerate(envelope.transactions):
        try:
            body = SubmitTransaction.model_validate(item, context=context)
        except ValidationError as error:
            failed = ValidationFailed(
                "the transaction is not valid", details={"fields": field_errors(error)}
            )
            results[index] = _refused(index, failed)
            continue
        submission = prepare(project_id, body, submitted_at)
        first = first_of_reference.setdefault(body.reference_id, index)
        if first == index:
            fresh.append((index, submission))
        else:
            repeats.append((index, submission, first))
    holders = await _submit_fresh(request, project_id, fresh, results)
    for index, submission, first in repeats:
        holder, state = holders[first]
        results[index] = _refused(index, duplicate(submission.claim, holder, state))
    items = [result for result in results if result is not None]
    accepted = sum(1 for item in items if item["status"] == 202)
    return json_response(
        {"items": items, "accepted": accepted, "rejected": len(items) - accepted}, status=202
    )


async def _submit_fresh(
    request: web.Request,
    project_id: str,
    fresh: list[tuple[int, Submission]],
    results: list[dict[str, Any] | None],
) -> dict[int, tuple[tuple[str, bytes], dict[str, Any] | None]]:
    """Reserve the first occurrence of each reference ID, answer the taken ones with 409 and
    publish the rest as one batch message; if the broker does not confirm it, every reservation
    is released and the request fails as a whole. Returns, by index, the (id, digest) now
    holding the item's reference ID and its current state."""
    if not fresh:
        return {}
    cache = request.app[STATUS_CACHE]
    reserved = await cache.reserve_many(project_id, [submission.claim for _, submission in fresh])
    holder_ids = [holder[0] for holder in reserved if holder is not None]
    states = await current_states(request, project_id, holder_ids) if holder_ids else {}
    holders: dict[int, tuple[tuple[str, bytes], dict[str, Any] | None]] = {}
    publishable: list[tuple[int, Submission]] = []
    for (index, submission), holder in zip(fresh, reserved, strict=True):
        if holder is None:
            publishable.append((index, submission))
            claim = submission.claim
            holders[index] = ((claim.transaction_id, claim.digest), claim.pending)
        else:
            holders[index] = (holder, states.get(holder[0]))
            conflict = duplicate(submission.claim, holder, states.get(holder[0]))
            results[index] = _refused(index, conflict)
    if publishable:
        try:
            await request.app[PUBLISHER].publish_batch(
                project_id, [submission.message for _, submission in publishable]
            )
        except BaseException:
            await cache.release_many(project_id, [s.claim for _, s in publishable])
            raise
    for index, submission in publishable:
        results[index] = _accepted(index, submission)
    return holders
