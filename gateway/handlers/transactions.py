"""Transactions: submit (dedup in Redis, publish with confirm, 202), read the current state,
and list the applied ones.

The submit path's work is `gateway/submission.py`'s; the handlers here parse, call it, and
shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime

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
from gateway.submission import ClientGone, accepted_body, prepare, submission_context
from shared.contract.messages import SubmitTransaction
from shared.errors import NotFound

TAG = "Transactions"


async def submit_transaction(request: web.Request) -> web.StreamResponse:
    submitter = request.app[SUBMITTER]
    project_id = request.match_info["projectId"]
    async with request.app[SUBMISSION_LIMITS].single.slot():
        body = await read_model(
            request, SubmitTransaction, context=submission_context(request.app[SETTINGS])
        )
        submission = prepare(project_id, body, datetime.now(UTC))
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
    project_id = request.match_info["projectId"]
    transaction_id = request.match_info["transactionId"]
    states = await request.app[TRANSACTION_STATES].current(project_id, [transaction_id])
    found = states.get(transaction_id)
    if found is None:
        raise NotFound(f"transaction {transaction_id} not found", code="TransactionNotFound")
    return json_response(transaction_from_state(found))


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
    " existing transaction in details.transaction and details.requestMatches, also when only"
    " PostgreSQL still holds it; one whose first submission is still being published waits"
    " for that publish (at most `duplicate_wait_max_ms`), and answers 503"
    " ReferenceIdInProgress only if it failed. Once the oldest submission in progress has"
    " waited `submission_wait_max_ms`, or beyond `submissions_in_flight_max` in progress, 429"
    " TooManyRequests with Retry-After.",
    links=(Link("GetTransaction", "getTransaction", _TRANSACTION),),
)
GET_TRANSACTION = Endpoint(
    "getTransaction",
    get_transaction,
    "A transaction's current state",
    TAG,
    response=Transaction,
    response_example=examples.dump(examples.TRANSACTION),
    errors=("TransactionNotFound",),
)
