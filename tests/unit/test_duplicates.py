"""Answering duplicates of an unconfirmed holder, with small fakes of the project's own
interfaces (the status cache's holder, the transaction states): an applied transaction whose
confirm never reached Redis is a 409, not a 503; at most `duplicate_waits_max` duplicates wait
at once; a store that fails while one waits is that submission's 503, not the request's."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from gateway.duplicates import DuplicateReference, Duplicates, Taken
from gateway.states import TransactionStates
from shared.errors import ApiError, CacheUnavailable, Unavailable
from shared.redis.status_cache import Claim, Holder, StatusCache
from shared.settings import Settings

WAIT_MAX_MS = 60
HOLDER = Holder("t-1", b"digest", confirmed=False)


class Cache:
    """Redis's view of the reference ID: held by HOLDER, never confirmed."""

    async def holder(self, project_id: str, reference_id: str) -> Holder:
        return HOLDER


class States:
    """The holder's state: Pending at first, then `later` (a state, or an error raised)."""

    def __init__(self, later: dict[str, Any] | Exception) -> None:
        self.later = later
        self.reads = 0

    async def current(self, project_id: str, transaction_ids: list[str]) -> dict[str, Any]:
        self.reads += 1
        if self.reads == 1:
            return {
                tid: {"id": tid, "referenceId": "r", "status": "Pending"} for tid in transaction_ids
            }
        if isinstance(self.later, Exception):
            raise self.later
        return {tid: self.later for tid in transaction_ids}


def duplicates(states: States, **limits: int) -> Duplicates:
    settings = Settings(
        duplicate_wait_max_ms=WAIT_MAX_MS,
        duplicate_poll_first_ms=5,
        duplicate_poll_max_ms=10,
        **limits,
    )
    return Duplicates(settings, cast(StatusCache, Cache()), cast(TransactionStates, states))


def taken(reference_id: str = "r") -> Taken:
    return Taken(Claim(reference_id, "t-2", b"digest", {}), HOLDER)


async def test_an_applied_holder_never_confirmed_is_a_409() -> None:
    completed = {"id": "t-1", "referenceId": "r", "status": "Completed", "operations": []}
    (answer,) = await duplicates(States(completed)).answer("p", [taken()])
    assert isinstance(answer, DuplicateReference)
    assert answer.details["transaction"] == completed


async def test_a_holder_neither_confirmed_nor_applied_is_a_503() -> None:
    pending = {"id": "t-1", "referenceId": "r", "status": "Pending"}
    (answer,) = await duplicates(States(pending)).answer("p", [taken()])
    assert isinstance(answer, Unavailable) and answer.code == "ReferenceIdInProgress"


async def test_past_the_waits_max_a_duplicate_answers_at_once() -> None:
    pending = {"id": "t-1", "referenceId": "r", "status": "Pending"}
    service = duplicates(States(pending), duplicate_waits_max=2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.gather(*(service.answer("p", [taken(f"r{n}")]) for n in range(2)))
    await asyncio.sleep(0.01)  # both are waiting
    (refused,) = await service.answer("p", [taken("r3")])
    refused_after_s = loop.time() - started
    assert isinstance(refused, Unavailable) and refused.code == "ReferenceIdInProgress"
    assert refused_after_s < WAIT_MAX_MS / 1000
    await waiting


async def test_a_store_failing_while_one_waits_is_that_submissions_503() -> None:
    failure = CacheUnavailable("the reference cache is unavailable")
    answers: list[ApiError] = await duplicates(States(failure)).answer("p", [taken()])
    assert answers == [failure]
