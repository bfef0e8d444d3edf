"""Transactions: submit (dedup in Redis, publish with confirm, 202), read the current state,
and list the applied ones.

The submit path makes no database query: the tenant and project checks are cached, the
reference ID is reserved in Redis, and the worker decides in PostgreSQL what was applied."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway import examples
from gateway.http import json_response, read_model
from gateway.keys import DATABASE, PUBLISHER, SETTINGS, STATUS_CACHE, SUBMISSION_LIMITS
from gateway.operation import Link, Operation
from gateway.schemas import Transaction, TransactionAccepted
from gateway.views import transaction_view
from shared.errors import ApiError, CacheUnavailable, Conflict, NotFound, Unavailable
from shared.ids import new_id
from shared.messages import (
    SubmitTransaction,
    message_body,
    operations_json,
    request_digest,
    transaction_body,
    transaction_from_row,
)
from shared.settings import Settings
from shared.status_cache import Claim, Holder

TAG = "Transactions"
SELECT_TRANSACTIONS = """
SELECT t.*, t.id AS requested_id FROM transactions t
WHERE t.id = ANY($1::text[]) AND t.project_id = $2
UNION ALL
SELECT t.*, a.id AS requested_id FROM transaction_aliases a
JOIN transactions t ON t.id = a.transaction_id
WHERE a.id = ANY($1::text[]) AND a.project_id = $2
"""


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated transaction with its new id: the reference-ID claim and the queue message
    (as the JSON object to publish)."""

    claim: Claim
    message: dict[str, Any]


def prepare(project_id: str, body: SubmitTransaction, submitted_at: datetime) -> Submission:
    """Give a validated submission its id, digest, Pending state and queue message."""
    transaction_id = new_id()
    operations = operations_json(body.operations)
    pending = transaction_body(
        transaction_id=transaction_id,
        reference_id=body.reference_id,
        status="Pending",
        operations=operations,
        created_at=submitted_at,
    )
    message = message_body(
        transaction_id=transaction_id,
        project_id=project_id,
        reference_id=body.reference_id,
        operations=operations,
        submitted_at=submitted_at,
    )
    claim = Claim(body.reference_id, transaction_id, request_digest(operations), pending)
    return Submission(claim, message)


def submission_context(settings: Settings) -> dict[str, Any]:
    """The limits a submitted transaction is validated against."""
    return {
        "operations_per_transaction_max": settings.operations_per_transaction_max,
        "reference_id_length_max": settings.reference_id_length_max,
    }


def accepted_body(claim: Claim) -> dict[str, Any]:
    """What a 202 answers."""
    return {"id": claim.transaction_id, "referenceId": claim.reference_id, "status": "Pending"}


async def submit_transaction(request: web.Request) -> web.Response:
    async with request.app[SUBMISSION_LIMITS].single.slot():
        return await _submit_transaction(request)


async def _submit_transaction(request: web.Request) -> web.Response:
    project_id = request.match_info["projectId"]
    body = await read_model(
        request, SubmitTransaction, context=submission_context(request.app[SETTINGS])
    )
    submission = prepare(project_id, body, datetime.now(UTC))
    claim = submission.claim
    cache = request.app[STATUS_CACHE]
    holder = await cache.reserve(
        project_id, claim.reference_id, claim.transaction_id, claim.digest, claim.pending
    )
    if holder is not None:
        states = await current_states(request, project_id, [holder.transaction_id])
        raise duplicate(request, claim, holder, states.get(holder.transaction_id))
    try:
        await request.app[PUBLISHER].publish_coalesced(project_id, submission.message)
    except BaseException:
        # Best effort: a reservation that cannot be released expires after its pending TTL.
        with contextlib.suppress(CacheUnavailable):
            await cache.release(project_id, claim.reference_id, claim.transaction_id, claim.digest)
        raise
    with contextlib.suppress(CacheUnavailable):
        await cache.confirm(project_id, claim.reference_id, claim.transaction_id, claim.digest)
    return json_response(
        accepted_body(claim),
        status=202,
        headers={"Location": f"/projects/{project_id}/transactions/{claim.transaction_id}"},
    )


async def get_transaction(request: web.Request) -> web.Response:
    project_id = request.match_info["projectId"]
    transaction_id = request.match_info["transactionId"]
    found = (await current_states(request, project_id, [transaction_id])).get(transaction_id)
    if found is None:
        raise NotFound(f"transaction {transaction_id} not found", code="TransactionNotFound")
    return json_response(transaction_view(found))


async def current_states(
    request: web.Request, project_id: str, transaction_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The current state of each known transaction, by id: Redis first for all of them in one
    round trip, then one PostgreSQL query for those Redis has nothing final for (it may have
    been flushed, or a worker may have committed without reaching Redis). With Redis
    unreachable, a transaction PostgreSQL does not know may still be waiting in its queue:
    that is a 503, not an unknown transaction."""
    cache_error: CacheUnavailable | None = None
    try:
        cached = await request.app[STATUS_CACHE].get_many(project_id, transaction_ids)
    except CacheUnavailable as error:
        cached, cache_error = [None] * len(transaction_ids), error
    found: dict[str, dict[str, Any]] = {}
    unsettled: list[str] = []
    for transaction_id, state in zip(transaction_ids, cached, strict=True):
        if state is not None:
            found[transaction_id] = state
        if state is None or state.get("status") == "Pending":
            unsettled.append(transaction_id)
    if unsettled:
        rows = await request.app[DATABASE].fetch(SELECT_TRANSACTIONS, unsettled, project_id)
        for row in rows:
            found[row["requested_id"]] = transaction_from_row(row)
    if cache_error is not None and any(tid not in found for tid in transaction_ids):
        raise cache_error
    return found


def duplicate(
    request: web.Request, claim: Claim, holder: Holder, current: dict[str, Any] | None
) -> ApiError:
    """409 with the transaction holding the claim's reference ID; 503 while the holder's
    publish is unconfirmed and it has no final state, because it may never exist."""
    if not holder.confirmed and (current is None or current.get("status") == "Pending"):
        return Unavailable(
            f"a request with referenceId {claim.reference_id} is still being submitted",
            code="ReferenceIdInProgress",
            retry_after_s=request.app[SETTINGS].retry_after_s,
        )
    if current is None:
        current = {
            "id": holder.transaction_id,
            "referenceId": claim.reference_id,
            "status": "Pending",
        }
    return Conflict(
        f"referenceId {claim.reference_id} is already used in this project",
        code="DuplicateReferenceId",
        details={"requestMatches": holder.digest == claim.digest, "transaction": current},
    )


_TRANSACTION = {"projectId": "$request.path.projectId", "transactionId": "$response.body#/id"}
SUBMIT_TRANSACTION = Operation(
    "submitTransaction",
    submit_transaction,
    "Submit a transaction",
    TAG,
    status=202,
    response=TransactionAccepted,
    response_example=examples.dump(examples.ACCEPTED),
    response_headers={"Location": "the transaction's URL, to poll for its final state"},
    body=SubmitTransaction,
    body_example=examples.SUBMIT,
    errors=(
        "DuplicateReferenceId",
        "QueueFull",
        "QueueUnroutable",
        "ReferenceIdInProgress",
        "TooManyRequests",
    ),
    description="Accepted once the broker confirmed it (202, Pending); poll the Location until"
    " the status is Completed or Failed. The operations apply in order, all or nothing. A"
    " referenceId already used in the project answers 409 DuplicateReferenceId with the"
    " existing transaction in details.transaction and details.requestMatches. Beyond"
    " `submissions_in_flight_max` submissions in progress, 429 TooManyRequests with"
    " Retry-After.",
    links=(Link("GetTransaction", "getTransaction", _TRANSACTION),),
)
GET_TRANSACTION = Operation(
    "getTransaction",
    get_transaction,
    "A transaction's current state",
    TAG,
    response=Transaction,
    response_example=examples.dump(examples.TRANSACTION),
    errors=("TransactionNotFound",),
)
