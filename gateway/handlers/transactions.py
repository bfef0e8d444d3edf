"""Transactions: submit (dedup in Redis, publish with confirm, 202), read the current state,
and list the applied ones.

The submit path makes no database query: the tenant and project checks are cached, the
reference ID is reserved in Redis, and the worker decides in PostgreSQL what was applied."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway import examples
from gateway.http import json_response, read_model
from gateway.keys import DATABASE, PUBLISHER, SETTINGS, STATUS_CACHE
from gateway.operation import Link, Operation
from gateway.schemas import Transaction, TransactionAccepted
from gateway.views import transaction_view
from shared.errors import ApiError, CacheUnavailable, Conflict, NotFound, Unavailable
from shared.ids import new_id
from shared.messages import (
    SubmitTransaction,
    TransactionMessage,
    operations_json,
    request_digest,
    transaction_body,
    transaction_from_row,
)
from shared.status_cache import Holder

TAG = "Transactions"
SELECT_TRANSACTION = """
SELECT t.* FROM transactions t WHERE t.id = $1 AND t.project_id = $2
UNION ALL
SELECT t.* FROM transaction_aliases a JOIN transactions t ON t.id = a.transaction_id
WHERE a.id = $1 AND a.project_id = $2
LIMIT 1
"""


async def submit_transaction(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    project_id = request.match_info["projectId"]
    body = await read_model(
        request,
        SubmitTransaction,
        context={
            "operations_per_transaction_max": settings.operations_per_transaction_max,
            "reference_id_length_max": settings.reference_id_length_max,
        },
    )
    transaction_id = new_id()
    operations = operations_json(body.operations)
    digest = request_digest(operations)
    submitted_at = datetime.now(UTC)
    pending = transaction_body(
        transaction_id=transaction_id,
        reference_id=body.reference_id,
        status="Pending",
        operations=operations,
        created_at=submitted_at,
    )
    cache = request.app[STATUS_CACHE]
    holder = await cache.reserve(project_id, body.reference_id, transaction_id, digest, pending)
    if holder is not None:
        raise await _duplicate(request, project_id, body.reference_id, holder, digest)
    message = TransactionMessage.model_construct(
        v=1,
        id=transaction_id,
        project_id=project_id,
        reference_id=body.reference_id,
        operations=body.operations,
        submitted_at=submitted_at,
    )
    try:
        await request.app[PUBLISHER].publish(message)
    except BaseException:
        # Best effort: a reservation that cannot be released expires after its pending TTL.
        with contextlib.suppress(CacheUnavailable):
            await cache.release(project_id, body.reference_id, transaction_id, digest)
        raise
    with contextlib.suppress(CacheUnavailable):
        await cache.confirm(project_id, body.reference_id, transaction_id, digest)
    return json_response(
        TransactionAccepted(id=transaction_id, reference_id=body.reference_id, status="Pending"),
        status=202,
        headers={"Location": f"/projects/{project_id}/transactions/{transaction_id}"},
    )


async def get_transaction(request: web.Request) -> web.Response:
    project_id = request.match_info["projectId"]
    transaction_id = request.match_info["transactionId"]
    found = await _current_state(request, project_id, transaction_id)
    if found is None:
        raise NotFound(f"transaction {transaction_id} not found", code="TransactionNotFound")
    return json_response(transaction_view(found))


async def _current_state(
    request: web.Request, project_id: str, transaction_id: str
) -> dict[str, Any] | None:
    """Redis first; PostgreSQL when Redis has nothing final (it may have been flushed, or a
    worker may have committed without reaching Redis). With Redis unreachable, a transaction
    PostgreSQL does not know may still be waiting in its queue: that is a 503, not a 404."""
    cache_error: CacheUnavailable | None = None
    try:
        cached = await request.app[STATUS_CACHE].get(project_id, transaction_id)
    except CacheUnavailable as error:
        cached, cache_error = None, error
    if cached is not None and cached.get("status") != "Pending":
        return cached
    row = await request.app[DATABASE].fetchrow(SELECT_TRANSACTION, transaction_id, project_id)
    if row is not None:
        return transaction_from_row(row)
    if cache_error is not None:
        raise cache_error
    return cached


async def _duplicate(
    request: web.Request, project_id: str, reference_id: str, holder: Holder, digest: bytes
) -> ApiError:
    """409 with the transaction holding the reference ID; 503 while the holder's publish is
    unconfirmed and it has no final state, because it may never exist."""
    current = await _current_state(request, project_id, holder.transaction_id)
    if not holder.confirmed and (current is None or current.get("status") == "Pending"):
        return Unavailable(
            f"a request with referenceId {reference_id} is still being submitted",
            code="ReferenceIdInProgress",
            retry_after_s=request.app[SETTINGS].retry_after_s,
        )
    if current is None:
        current = {"id": holder.transaction_id, "referenceId": reference_id, "status": "Pending"}
    return Conflict(
        f"referenceId {reference_id} is already used in this project",
        code="DuplicateReferenceId",
        details={"requestMatches": holder.digest == digest, "transaction": current},
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
    errors=("DuplicateReferenceId", "QueueFull", "QueueUnroutable", "ReferenceIdInProgress"),
    description="Accepted once the broker confirmed it (202, Pending); poll the Location until"
    " the status is Completed or Failed. The operations apply in order, all or nothing. A"
    " referenceId already used in the project answers 409 DuplicateReferenceId with the"
    " existing transaction in details.transaction and details.requestMatches.",
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
