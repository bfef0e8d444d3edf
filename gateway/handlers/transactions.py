"""Transactions: submit (dedup in Redis, publish with confirm, 202), read the current state,
and list the applied ones.

The submit path's work is `gateway/submission.py`'s; the handlers here parse, call it, and
shape the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.app_keys import (
    REQUEST_ID,
    SETTINGS,
    SUBMISSION_LIMITS,
    SUBMITTER,
    TRANSACTION_STATES,
)
from gateway.http import json_response, read_model
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint, Link
from gateway.representations import transaction_from_state
from gateway.responses import Transaction, TransactionAccepted
from gateway.submission import (
    ClientGone,
    Submission,
    accepted_body,
    prepare,
    submission_context,
)
from shared.contract.messages import SubmitReversal, SubmitTransaction
from shared.errors import NotFound

TAG = "Transactions"


async def submit_transaction(request: web.Request) -> web.StreamResponse:
    project_id = request.match_info["projectId"]

    async def submission() -> Submission:
        body = await read_model(
            request, SubmitTransaction, context=submission_context(request.app[SETTINGS])
        )
        return prepare(project_id, body, datetime.now(UTC))

    return await _submit(request, project_id, submission)


async def submit_reversal(request: web.Request) -> web.StreamResponse:
    project_id = request.match_info["projectId"]
    transaction_id = request.match_info["transactionId"]

    async def submission() -> Submission:
        body = await read_model(
            request, SubmitReversal, context=submission_context(request.app[SETTINGS])
        )
        # The transaction must be known now (an alias names the transaction it resolved to);
        # whether it can be reversed is the writer's to decide, in queue order.
        found = await _current_state(request, project_id, transaction_id)
        return prepare(project_id, body, datetime.now(UTC), reversal_of=found["id"])

    return await _submit(request, project_id, submission)


async def _submit(
    request: web.Request,
    project_id: str,
    submission_of: Callable[[], Awaitable[Submission]],
) -> web.StreamResponse:
    """Read and prepare a submission within an admission slot, publish it, and answer 202, or
    the answer to a duplicate of its reference ID."""
    submitter = request.app[SUBMITTER]
    async with request.app[SUBMISSION_LIMITS].single.slot():
        submission = await submission_of()
        try:
            taken = await submitter.submit(
                project_id, submission, lambda: _client_gone(request), request[REQUEST_ID]
            )
        except ClientGone:
            return web.Response(status=499)  # nobody reads it: the connection is closed
    if taken is not None:
        # Outside the admission slot: a duplicate may wait for another request's publish.
        (answer,) = await submitter.duplicates.answer(project_id, [taken])
        raise answer
    claim = submission.claim
    return json_response(
        accepted_body(claim),
        status=202,
        headers={"Location": f"/projects/{project_id}/transactions/{claim.transaction_id}"},
    )


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def get_transaction(request: web.Request) -> web.Response:
    found = await _current_state(
        request, request.match_info["projectId"], request.match_info["transactionId"]
    )
    return json_response(transaction_from_state(found))


async def _current_state(
    request: web.Request, project_id: str, transaction_id: str
) -> dict[str, Any]:
    """The transaction's current state (Redis first, then PostgreSQL; an alias answers the
    transaction it resolved to), or 404 TransactionNotFound."""
    states = await request.app[TRANSACTION_STATES].current(project_id, [transaction_id])
    found = states.get(transaction_id)
    if found is None:
        raise NotFound(f"transaction {transaction_id} not found", code="TransactionNotFound")
    return dict(found)


_TRANSACTION = {"projectId": "$request.path.projectId", "transactionId": "$response.body#/id"}
SUBMIT_TRANSACTION = Endpoint(
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
    body_examples=examples.SUBMIT_EXAMPLES,
    errors=(
        "DuplicateReferenceId",
        "QueueFull",
        "QueueUnroutable",
        "ReferenceIdInProgress",
        "TooManyRequests",
    ),
    description="Accepted once the broker confirmed it (202, Pending); poll the Location until"
    " the status is Completed or Failed. The operations apply in order, all or nothing. Hold"
    " reserves an amount of a wallet (the completed transaction shows its holdId), Capture"
    " applies a hold in whole or part and Void releases it; Expire is the service's own"
    " operation and referenceIds beginning with `cloudwallet:` are reserved (400). A"
    " referenceId already used in the project answers 409 DuplicateReferenceId with the"
    " existing transaction in details.transaction and details.requestMatches, also when only"
    " PostgreSQL still holds it; one whose first submission is still being published waits"
    " for that publish (at most `duplicate_wait_max_ms`), and answers 503"
    " ReferenceIdInProgress only if it failed. Once the oldest submission in progress has"
    " waited `submission_wait_max_ms`, or beyond `submissions_in_flight_max` in progress, 429"
    " TooManyRequests with Retry-After.",
    links=(Link("GetTransaction", "getTransaction", _TRANSACTION),),
)
SUBMIT_REVERSAL = Endpoint(
    "submitReversal",
    submit_reversal,
    "Reverse a transaction",
    TAG,
    status=202,
    response=TransactionAccepted,
    response_example=examples.dump(examples.ACCEPTED_REVERSAL),
    response_headers={"Location": "the reversal's URL, to poll for its final state"},
    body=SubmitReversal,
    body_example=examples.SUBMIT_REVERSAL,
    errors=(
        "TransactionNotFound",
        "DuplicateReferenceId",
        "QueueFull",
        "QueueUnroutable",
        "ReferenceIdInProgress",
        "TooManyRequests",
    ),
    description="Submits, like a transaction, one that applies the inverse of each operation of"
    " the transaction in reverse order (a Transfer back, an Issue redeemed, a Redeem issued"
    " again): 202 Pending, then poll the Location. The reversal shows reversalOf, and the"
    " transaction reversedBy once the reversal completed. The writer decides, in queue order:"
    " the reversal fails NotReversible if the transaction is not Completed or has an operation"
    " on holds, AlreadyReversed if it was reversed before, and InsufficientFunds (nothing"
    " moved) if the inverse would overdraw. An unknown transaction answers 404 at once. The"
    " referenceId is the reversal's own, with the same idempotency as a submission.",
    links=(Link("GetReversal", "getTransaction", _TRANSACTION),),
)
GET_TRANSACTION = Endpoint(
    "getTransaction",
    get_transaction,
    "A transaction's current state",
    TAG,
    response=Transaction,
    response_example=examples.dump(examples.TRANSACTION),
    errors=("TransactionNotFound",),
    description="The transaction's current state: Pending until the ledger applied it, then"
    " Completed, or Failed with the operation and the code that failed it. Poll it after a"
    " submission (Redis answers first, PostgreSQL when Redis does not know it).",
)
