"""Batch submission: up to `transactions_per_batch_max` independent transactions in one request,
each with its own referenceId, deduplicated and answered one by one.

The batch as a whole answers 202 with one result per item, in the order sent: the item's own
HTTP status and the body the single submit route would have answered (the Pending transaction,
or an error in the API's error shape). A bad item or a duplicate referenceId (earlier in the
same batch, or of an earlier transaction) fails alone, and so does one whose referenceId another
request is still submitting (503 ReferenceIdInProgress). Only a malformed envelope (400), a batch
over the limit (400), or the reference cache or the broker being unavailable (503, nothing
accepted) fail the request as a whole.

The reference IDs are reserved in one Redis round trip, and the accepted items are published
in TransactionBatchMessages of at most `message_bytes_max` bytes, in order on one channel and
confirmed together, and the worker applies the items in the order sent."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from gateway import examples, schemas
from gateway.handlers.transactions import (
    Submission,
    accepted_body,
    current_states,
    duplicate,
    prepare,
    submission_context,
)
from gateway.http import field_errors, json_response, read_model
from gateway.keys import PUBLISHER, SETTINGS, STATUS_CACHE, SUBMISSION_LIMITS
from gateway.operation import Operation
from shared.errors import ApiError, CacheUnavailable, ValidationFailed
from shared.messages import SubmitTransaction
from shared.status_cache import Holder

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
            # Any item is accepted by the envelope: each is validated as a SubmitTransaction
            # on its own and a bad one answers 400 in its own result.
            json_schema_extra={
                "items": {"description": "a SubmitTransaction, validated on its own"}
            },
        ),
    ]

    _transactions = field_validator("transactions")(_check_batch_size)


class TransactionBatchItem(schemas.Out):
    """The result of one item: its position in the request, the HTTP status the single submit
    route would have answered, and that body."""

    index: int
    status: Literal[202, 400, 409, 503]
    body: schemas.TransactionAccepted | schemas.ErrorBody


class TransactionBatchResult(schemas.Out):
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
    envelope = await read_model(
        request,
        SubmitTransactionBatch,
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
        results[index] = _refused(index, duplicate(request, submission.claim, holder, state))
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
) -> dict[int, tuple[Holder, dict[str, Any] | None]]:
    """Reserve the first occurrence of each reference ID, answer the taken ones with 409 and
    publish the rest in batch messages; if the broker does not confirm them all, every
    reservation is released and the request fails as a whole; once confirmed, the reservations
    are marked confirmed. Returns, by index, the holder of the item's reference ID and its
    current state."""
    if not fresh:
        return {}
    cache = request.app[STATUS_CACHE]
    reserved = await cache.reserve_many(project_id, [submission.claim for _, submission in fresh])
    holder_ids = [holder.transaction_id for holder in reserved if holder is not None]
    states = await current_states(request, project_id, holder_ids) if holder_ids else {}
    holders: dict[int, tuple[Holder, dict[str, Any] | None]] = {}
    publishable: list[tuple[int, Submission]] = []
    for (index, submission), holder in zip(fresh, reserved, strict=True):
        if holder is None:
            publishable.append((index, submission))
            claim = submission.claim
            # Confirmed by the time a later item of the batch is answered: the publish below
            # either succeeds or fails the whole request.
            holders[index] = (Holder(claim.transaction_id, claim.digest, True), claim.pending)
        else:
            state = states.get(holder.transaction_id)
            holders[index] = (holder, state)
            conflict = duplicate(request, submission.claim, holder, state)
            results[index] = _refused(index, conflict)
    if publishable:
        try:
            await request.app[PUBLISHER].publish_batch(
                project_id, [submission.message for _, submission in publishable]
            )
        except BaseException:
            # Best effort: a reservation that cannot be released expires after its pending TTL.
            with contextlib.suppress(CacheUnavailable):
                await cache.release_many(project_id, [s.claim for _, s in publishable])
            raise
        with contextlib.suppress(CacheUnavailable):
            await cache.confirm_many(project_id, [s.claim for _, s in publishable])
    for index, submission in publishable:
        results[index] = _accepted(index, submission)
    return holders


SUBMIT_TRANSACTION_BATCH = Operation(
    "submitTransactionBatch",
    submit_transaction_batch,
    "Submit many transactions",
    "Transactions",
    status=202,
    response=TransactionBatchResult,
    response_example={
        "items": [
            {"index": 0, "status": 202, "body": examples.dump(examples.ACCEPTED)},
            {
                "index": 1,
                "status": 400,
                "body": {
                    "error": {
                        "code": "ValidationError",
                        "message": "the transaction is not valid",
                        "details": {
                            "fields": [{"field": "operations", "message": "Field required"}]
                        },
                    }
                },
            },
        ],
        "accepted": 1,
        "rejected": 1,
    },
    body=SubmitTransactionBatch,
    body_example={"transactions": [examples.SUBMIT, {"referenceId": "order-1002"}]},
    errors=("QueueFull", "QueueUnroutable", "TooManyRequests"),
    description="Up to `transactions_per_batch_max` independent transactions, each with its own"
    " referenceId, answered one by one in `items` (in the order sent) with the status and body"
    " the single submit route would have answered: 202 Pending, 400 ValidationError, 409"
    " DuplicateReferenceId or 503 ReferenceIdInProgress. The accepted items travel as one"
    " queue message, confirmed by the broker before this answer, and are applied in the order"
    " sent. The request fails as a whole (nothing accepted) only for a bad envelope, the"
    " reference cache or the broker being unavailable, or beyond"
    " `transaction_batches_in_flight_max` batches in progress (429 TooManyRequests).",
)
