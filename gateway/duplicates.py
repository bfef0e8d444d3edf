"""Answering a submission whose reference ID another transaction holds: 409
DuplicateReferenceId with that transaction, after waiting (bounded by `duplicate_wait_max_ms`)
for a holder whose publish is not confirmed yet; 503 ReferenceIdInProgress only if that
publish failed (docs/decisions/0010-duplicates-409-and-503.md)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from gateway.states import TransactionStates
from shared.contract.messages import request_digest
from shared.errors import ApiError, Conflict, Unavailable
from shared.redis.status_cache import Claim, Holder, StatusCache
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Taken:
    """A submission whose reference ID another transaction holds in Redis."""

    claim: Claim
    holder: Holder


class DuplicateReference(Conflict):
    """409 DuplicateReferenceId with the transaction holding the reference ID; `digest` is
    that transaction's request digest, to compare other requests with."""

    def __init__(self, claim: Claim, digest: bytes, current: dict[str, Any]) -> None:
        super().__init__(
            f"referenceId {claim.reference_id} is already used in this project",
            code="DuplicateReferenceId",
            details={"requestMatches": digest == claim.digest, "transaction": current},
        )
        self.digest = digest
        self.current = current

    def to(self, claim: Claim) -> DuplicateReference:
        """The same answer to another request with the same reference ID."""
        return DuplicateReference(claim, self.digest, self.current)


class Duplicates:
    """Answers submissions whose reference ID was taken in Redis."""

    def __init__(self, settings: Settings, cache: StatusCache, states: TransactionStates) -> None:
        self._settings = settings
        self._cache = cache
        self._states = states
        self._duplicate_wait_s = settings.duplicate_wait_max_ms / 1000
        self._poll_first_s = settings.duplicate_poll_first_ms / 1000
        self._poll_max_s = settings.duplicate_poll_max_ms / 1000
        self._waits_max = settings.duplicate_waits_max
        self._waits = 0

    async def answer(self, project_id: str, taken: list[Taken]) -> list[ApiError]:
        """The answer to each submission whose reference ID was taken: 409 with the holder's
        current state; an unconfirmed holder without a final state is waited for (at most
        `duplicate_wait_max_ms`, and at most `duplicate_waits_max` at once) until its publish
        is confirmed, and answers 503 ReferenceIdInProgress only if it is then neither confirmed
        nor applied."""
        if not taken:
            return []
        states = await self._states.current(project_id, [t.holder.transaction_id for t in taken])
        return list(
            await asyncio.gather(
                *(
                    self._answer(project_id, one, states.get(one.holder.transaction_id))
                    for one in taken
                )
            )
        )

    async def _answer(
        self, project_id: str, taken: Taken, current: dict[str, Any] | None
    ) -> ApiError:
        """One submission's answer. An unavailable Redis or PostgreSQL while it waits is that
        submission's answer (503), not the request's: in a batch, the others stand."""
        holder = taken.holder
        try:
            if not holder.confirmed and (current is None or current.get("status") == "Pending"):
                waited = await self._wait_confirmed(project_id, taken.claim.reference_id, holder)
                holder = waited or holder
                states = await self._states.current(project_id, [holder.transaction_id])
                current = states.get(holder.transaction_id)
                # Never confirmed, but applied (a final state) is a 409 all the same: the
                # confirm is what Redis may miss, not the publish.
                if waited is None and (current is None or current.get("status") == "Pending"):
                    return self._in_progress(taken.claim.reference_id)
        except Unavailable as error:
            return error
        if current is None:
            current = {
                "id": holder.transaction_id,
                "referenceId": taken.claim.reference_id,
                "status": "Pending",
            }
        digest = holder.digest
        if current["id"] != holder.transaction_id and "operations" in current:
            # The holder's id is an alias: the transaction that holds the reference ID in
            # PostgreSQL is another one, and the request is compared with that one.
            digest = request_digest(current["operations"])
        return DuplicateReference(taken.claim, digest, current)

    def _in_progress(self, reference_id: str) -> Unavailable:
        return Unavailable(
            f"a request with referenceId {reference_id} is still being submitted, or its"
            " publish failed",
            code="ReferenceIdInProgress",
            retry_after_s=self._settings.retry_after_s,
        )

    async def _wait_confirmed(
        self, project_id: str, reference_id: str, holder: Holder
    ) -> Holder | None:
        """Poll Redis until the reference ID's holder is confirmed (returned), or is gone, or
        `duplicate_wait_max_ms` passed (None): first after `duplicate_poll_first_ms`, then after
        twice as long each time, up to `duplicate_poll_max_ms`. At most `duplicate_waits_max`
        wait at once; past it, None at once."""
        if self._waits >= self._waits_max:
            return None
        self._waits += 1
        try:
            return await self._poll_confirmed(project_id, reference_id)
        finally:
            self._waits -= 1

    async def _poll_confirmed(self, project_id: str, reference_id: str) -> Holder | None:
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + self._duplicate_wait_s
        pause_s = self._poll_first_s
        while loop.time() < deadline_s:
            await asyncio.sleep(min(pause_s, max(0.0, deadline_s - loop.time())))
            pause_s = min(pause_s * 2, self._poll_max_s)
            # One command, bounded by the Redis client's own timeout (`redis_timeout_ms`).
            current = await self._cache.holder(project_id, reference_id)
            if current is None:
                return None
            if current.confirmed:
                return current
        return None
