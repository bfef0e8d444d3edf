"""Submitting transactions: the one place where a reference ID is reserved, checked against
what PostgreSQL applied, published, and confirmed or released. Both submit routes call it.

    reserve in Redis ──taken──────────────> the holder's state: 409, after waiting (bounded)
         │ ours                               for an unconfirmed holder's publish; 503 if that
         v                                    publish failed
    applied in PostgreSQL? ──yes──> hand the reservation over to it, 409
         │ no
         v
    publish (broker confirm) ──error──> release the reservation, 503
         │
         v
    confirm the reservation, 202

Redis is a fast path that may forget anything at any time; the worker's UNIQUE constraint on
(project, referenceId) decides what is applied (docs/guarantees.md). Each request's Redis work
together is bounded by `redis_timeout_ms`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.dependencies import Dependencies
from gateway.duplicates import DuplicateReference, Duplicates, Taken
from gateway.references import Applied, AppliedReferences
from shared.amqp.publisher import Publisher
from shared.contract.messages import (
    SubmitReversal,
    SubmitTransaction,
    message_body,
    operations_json,
    request_digest,
    transaction_body,
)
from shared.errors import ApiError, CacheUnavailable
from shared.ids import new_id
from shared.redis.status_cache import Claim, Holder, StatusCache, within_deadline
from shared.settings import Settings
from shared.tracing import Tracer

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated transaction with its new id: the reference-ID claim and the queue message
    (as the JSON object to publish)."""

    claim: Claim
    message: dict[str, Any]


class ClientGone(Exception):
    """The client closed its connection before its submission was published: nothing was."""


def prepare(
    project_id: str,
    body: SubmitTransaction | SubmitReversal,
    submitted_at: datetime,
    reversal_of: str | None = None,
) -> Submission:
    """Give a validated submission its id, digest, Pending state and queue message: a
    transaction's operations, or the reversal of transaction `reversal_of` (whose operations
    the writer decides)."""
    transaction_id = new_id()
    operations = [] if isinstance(body, SubmitReversal) else operations_json(body.operations)
    metadata = body.metadata
    pending = transaction_body(
        transaction_id=transaction_id,
        reference_id=body.reference_id,
        status="Pending",
        operations=operations,
        created_at=submitted_at,
        metadata=metadata,
        reversal_of=reversal_of,
    )
    message = message_body(
        transaction_id=transaction_id,
        project_id=project_id,
        reference_id=body.reference_id,
        operations=operations,
        submitted_at=submitted_at,
        metadata=metadata,
        reversal_of=reversal_of,
    )
    digest = request_digest(operations, metadata, reversal_of)
    claim = Claim(body.reference_id, transaction_id, digest, pending)
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


class Submitter:
    """Reserves, checks, publishes and confirms submissions (see the module's diagram)."""

    def __init__(
        self,
        settings: Settings,
        cache: StatusCache,
        publisher: Publisher | None,
        references: AppliedReferences,
        duplicates: Duplicates,
        dependencies: Dependencies | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """`publisher` None: the broker is not reached yet, and `dependencies` says when it is
        (a gateway started while a service was down). With a `tracer`, each publish is a span
        whose traceparent travels with its transactions (shared/tracing.py)."""
        self._cache = cache
        if dependencies is None:
            if publisher is None:
                raise ValueError("a Submitter needs a publisher or its dependencies")
            dependencies = Dependencies.reached(publisher)
        self._dependencies = dependencies
        self._references = references
        self.duplicates = duplicates
        self._redis_timeout_s = settings.redis_timeout_ms / 1000
        self._tracer = tracer

    async def submit(
        self,
        project_id: str,
        submission: Submission,
        client_gone: Callable[[], bool] = lambda: False,
        request_id: str | None = None,
    ) -> Taken | None:
        """Publish the submission, confirmed by the broker (None), unless its reference ID is
        taken: a holder in Redis is returned (`Duplicates.answer` answers it), one in PostgreSQL
        is raised as 409. Raises Unavailable when Redis or the broker cannot take it, and
        ClientGone when the client left before the publish. `request_id` travels with the
        message (shared/amqp/publisher.py)."""
        publisher = self._dependencies.submission_publisher()
        claim = submission.claim
        deadline_s = asyncio.get_running_loop().time() + self._redis_timeout_s
        holder = await self._cache.reserve(
            project_id,
            claim.reference_id,
            claim.transaction_id,
            claim.digest,
            claim.pending,
            deadline_s,
        )
        if holder is not None:
            return Taken(claim, holder)
        try:
            applied = await self._references.find(project_id, claim.reference_id)
        except BaseException:
            await self._release(project_id, [claim])
            raise
        if applied is not None:
            await self._hand_over(project_id, claim, applied, deadline_s)
            raise DuplicateReference(claim, applied.digest, applied.state)
        if client_gone():
            await self._release(project_id, [claim])
            raise ClientGone
        try:
            if self._tracer is None:
                await publisher.publish_coalesced(project_id, submission.message, request_id)
            else:
                await _publish_traced(self._tracer, publisher, project_id, submission, request_id)
        except BaseException:
            await self._release(project_id, [claim])
            raise
        # The confirm has a deadline of its own: the publish that came between is not Redis work.
        deadline_s = asyncio.get_running_loop().time() + self._redis_timeout_s
        with contextlib.suppress(CacheUnavailable):
            await self._cache.confirm(
                project_id, claim.reference_id, claim.transaction_id, claim.digest, deadline_s
            )
        return None

    async def submit_many(
        self, project_id: str, submissions: list[Submission], request_id: str | None = None
    ) -> list[Taken | ApiError | None]:
        """`submit` for the first occurrences of distinct reference IDs of one project: one
        reservation command, one lookup, and the publishable ones published together in order;
        per submission, None once published, its holder in Redis, or its 409. If the broker does
        not confirm them all, every reservation is released and the error raised."""
        if not submissions:
            return []
        publisher = self._dependencies.submission_publisher()
        deadline_s = asyncio.get_running_loop().time() + self._redis_timeout_s
        claims = [submission.claim for submission in submissions]
        holders = await within_deadline(deadline_s, self._cache.reserve_many(project_id, claims))
        outcomes: list[Taken | ApiError | None] = [
            None if holder is None else Taken(claim, holder)
            for claim, holder in zip(claims, holders, strict=True)
        ]
        fresh = [index for index, holder in enumerate(holders) if holder is None]
        try:
            applied = await self._references.find_many(
                project_id, [claims[index].reference_id for index in fresh]
            )
        except BaseException:
            await self._release(project_id, [claims[index] for index in fresh])
            raise
        publishable: list[Submission] = []
        for index, found in zip(fresh, applied, strict=True):
            if found is None:
                publishable.append(submissions[index])
                continue
            claim = claims[index]
            await self._hand_over(project_id, claim, found, deadline_s)
            outcomes[index] = DuplicateReference(claim, found.digest, found.state)
        if publishable:
            try:
                await self._publish_many(publisher, project_id, publishable, request_id)
            except BaseException:
                await self._release(project_id, [s.claim for s in publishable])
                raise
            # As in `submit`, the confirm has a deadline of its own.
            deadline_s = asyncio.get_running_loop().time() + self._redis_timeout_s
            with contextlib.suppress(CacheUnavailable):
                confirmed = [s.claim for s in publishable]
                await within_deadline(deadline_s, self._cache.confirm_many(project_id, confirmed))
        return outcomes

    async def _publish_many(
        self,
        publisher: Publisher,
        project_id: str,
        submissions: list[Submission],
        request_id: str | None,
    ) -> None:
        """Publish a batch request's submissions together, in one span when tracing is on."""
        bodies = [submission.message for submission in submissions]
        request_ids: list[str | None] = [request_id] * len(bodies)
        if self._tracer is None:
            await publisher.publish_batch(project_id, bodies, request_ids=request_ids)
            return
        attributes: dict[str, AttributeValue] = {"messaging.batch.message_count": len(bodies)}
        with self._tracer.publishing("publish transactions", attributes) as traceparent:
            traceparents: list[str | None] = [traceparent] * len(bodies)
            await publisher.publish_batch(
                project_id, bodies, request_ids=request_ids, traceparents=traceparents
            )

    async def _hand_over(
        self, project_id: str, claim: Claim, applied: Applied, deadline_s: float
    ) -> None:
        holder = Holder(applied.transaction_id, applied.digest, True)
        with contextlib.suppress(CacheUnavailable):
            await within_deadline(
                deadline_s, self._cache.hand_over(project_id, claim, holder, applied.state)
            )

    async def _release(self, project_id: str, claims: list[Claim]) -> None:
        """Best effort: a reservation that cannot be released expires after its pending TTL."""
        deadline_s = asyncio.get_running_loop().time() + self._redis_timeout_s
        with contextlib.suppress(CacheUnavailable):
            await within_deadline(deadline_s, self._cache.release_many(project_id, claims))


async def _publish_traced(
    tracer: Tracer,
    publisher: Publisher,
    project_id: str,
    submission: Submission,
    request_id: str | None,
) -> None:
    """`publish_coalesced` within a span of its own, whose traceparent travels with it."""
    attributes: dict[str, AttributeValue] = {
        "cloudwallet.transaction.id": submission.claim.transaction_id
    }
    with tracer.publishing("publish transaction", attributes) as traceparent:
        await publisher.publish_coalesced(project_id, submission.message, request_id, traceparent)
