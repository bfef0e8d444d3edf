"""Transactions: submit (dedup in Redis, publish with confirm, 202) and read the current state.

The submit path makes no database query: the tenant and project checks are cached, the
reference ID is reserved in Redis, and the worker decides in PostgreSQL what was applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.http import json_response, read_model
from gateway.keys import DATABASE, PUBLISHER, SETTINGS, STATUS_CACHE, SUBMISSION_LIMITS
from shared.errors import CacheUnavailable, Conflict, NotFound
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
from shared.status_cache import Claim

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
        states = await current_states(request, project_id, [holder[0]])
        raise duplicate(claim, holder, states.get(holder[0]))
    try:
        await request.app[PUBLISHER].publish_coalesced(project_id, submission.message)
    except BaseException:
        await cache.release(project_id, claim.reference_id, claim.transaction_id, claim.digest)
        raise
    return json_response(
        accepted_body(claim),
        status=202,
        headers={"Location": f"/projects/{project_id}/transactions/{claim.transaction_id}"},
    )


async def get_transaction(request: web.Request) -> web.Response:
    project_id = request.match_info["projectId"]
    transaction_id = request.match_info["transactionId"]
    found = await _current_state(request, project_id, transaction_id)
    if found is None:
        raise NotFound(f"transaction {transaction_id} not found", code="TransactionNotFound")
    return json_response(found)


async def _current_state(
    request: web.Request, project_id: str, transaction_id: str
) -> dict[str, Any] | None:
    """Redis first; PostgreSQL when Redis has nothing final (it may have been flushed, or a
    worker may have committed without reaching Redis)."""
    return (await current_states(request, project_id, [transaction_id])).get(transaction_id)


async def current_states(
    request: web.Request, project_id: str, transaction_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The current state of each known transaction, by id: Redis first for all of them in one
    round trip, then one PostgreSQL query for those Redis has nothing final for."""
    try:
        cached = await request.app[STATUS_CACHE].get_many(project_id, transaction_ids)
    except CacheUnavailable:
        cached = [None] * len(transaction_ids)
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
    return found


def duplicate(claim: Claim, holder: tuple[str, bytes], current: dict[str, Any] | None) -> Conflict:
    """The 409 for a claim whose reference ID `holder` (id, digest) already has."""
    holder_id, holder_digest = holder
    if current is None:
        current = {"id": holder_id, "referenceId": claim.reference_id, "status": "Pending"}
    return Conflict(
        f"referenceId {claim.reference_id} is already used in this project",
        code="DuplicateReferenceId",
        details={"requestMatches": holder_digest == claim.digest, "transaction": current},
    )
