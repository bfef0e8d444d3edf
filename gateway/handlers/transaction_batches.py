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

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from gateway.app_keys import METRICS, REQUEST_ID, SETTINGS, SUBMISSION_LIMITS, SUBMITTER
from gateway.duplicates import DuplicateReference, Taken
from gateway.http import field_errors, json_response, read_model
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.requests import SubmitTransactionBatch
from gateway.responses import TransactionBatchResult
from gateway.submission import Submission, accepted_body, prepare, submission_context
from shared.contract.messages import SubmitTransaction
from shared.errors import ApiError, ValidationFailed


def _accepted(index: int, submission: Submission) -> dict[str, Any]:
    return {"index": index, "status": 202, "body": accepted_body(submission.claim)}


def _refused(index: int, error: ApiError) -> dict[str, Any]:
    return {"index": index, "status": error.status, "body": error.body()}


def _count(request: web.Request, results: list[dict[str, Any]], accepted: int) -> None:
    """The batch's items as submissions accepted or refused by code (a batch refused as a
    whole is counted by the access middleware as the route's request only)."""
    metrics = request.app[METRICS]
    if accepted:
        metrics.submitted(None, accepted)
    for result in results:
        if result["status"] != 202:
            metrics.submitted(result["body"]["error"]["code"])


@dataclass
class _Items:
    """A batch's items sorted out: the results known so far (bad items), the first occurrence of
    each reference ID, and the items repeating one."""

    results: list[dict[str, Any] | None]
    fresh: list[tuple[int, Submission]] = field(default_factory=list)
    repeats: list[tuple[int, Submission, int]] = field(default_factory=list)  # with the first's


async def submit_transaction_batch(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    submitter = request.app[SUBMITTER]
    project_id = request.match_info["projectId"]
    async with request.app[SUBMISSION_LIMITS].batch.slot():
        envelope = await read_model(
            request,
            SubmitTransactionBatch,
            context={"transactions_per_batch_max": settings.transactions_per_batch_max},
        )
        items = _sort_items(project_id, envelope, submission_context(settings))
        outcomes = await submitter.submit_many(
            project_id, [one for _, one in items.fresh], request[REQUEST_ID]
        )
    # Outside the admission slot: a duplicate may wait for another request's publish.
    indexed = zip(items.fresh, outcomes, strict=True)
    taken = [(index, one) for (index, _), one in indexed if isinstance(one, Taken)]
    taken_answers = await submitter.duplicates.answer(project_id, [one for _, one in taken])
    answers: dict[int, ApiError | None] = {}  # by index of a first occurrence; None: accepted
    for (index, submission), outcome in zip(items.fresh, outcomes, strict=True):
        if outcome is None:
            items.results[index] = _accepted(index, submission)
        answers[index] = None if isinstance(outcome, Taken) else outcome
    answers.update((index, answer) for (index, _), answer in zip(taken, taken_answers, strict=True))
    for index, refusal in answers.items():
        if refusal is not None:
            items.results[index] = _refused(index, refusal)
    firsts = dict(items.fresh)
    for index, submission, first in items.repeats:
        refusal = _repeat(submission, firsts[first], answers[first])
        items.results[index] = _refused(index, refusal)
    results = [result for result in items.results if result is not None]
    accepted = sum(1 for result in results if result["status"] == 202)
    _count(request, results, accepted)
    return json_response(
        {"items": results, "accepted": accepted, "rejected": len(results) - accepted}, status=202
    )


def _sort_items(
    project_id: str, envelope: SubmitTransactionBatch, context: dict[str, Any]
) -> _Items:
    """Validate each item on its own, and tell first occurrences of reference IDs from repeats."""
    items = _Items([None] * len(envelope.transactions))
    first_of_reference: dict[str, int] = {}
    submitted_at = datetime.now(UTC)
    for index, item in enumerate(envelope.transactions):
        try:
            body = SubmitTransaction.model_validate(item, context=context)
        except ValidationError as error:
            failed = ValidationFailed(
                "the transaction is not valid", details={"fields": field_errors(error)}
            )
            items.results[index] = _refused(index, failed)
            continue
        submission = prepare(project_id, body, submitted_at)
        first = first_of_reference.setdefault(body.reference_id, index)
        if first == index:
            items.fresh.append((index, submission))
        else:
            items.repeats.append((index, submission, first))
    return items


def _repeat(submission: Submission, first: Submission, answer: ApiError | None) -> ApiError:
    """A reference ID repeated within the batch: 409 with what its first occurrence got (the
    accepted transaction, or the holder it found), or that occurrence's 503."""
    if answer is None:
        return DuplicateReference(submission.claim, first.claim.digest, first.claim.pending)
    if isinstance(answer, DuplicateReference):
        return answer.to(submission.claim)
    return answer


SUBMIT_TRANSACTION_BATCH = Endpoint(
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
