"""The submission service's order of work, with small fakes of the project's own interfaces
(the status cache, the publisher, the reference lookups): a reservation is confirmed after a
publish that outlasted the request's Redis budget (the confirm has a budget of its own), and a
reservation is released when the lookup between reserve and publish fails or is cancelled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from gateway.duplicates import Duplicates
from gateway.references import AppliedReferences
from gateway.submission import Submission, Submitter, prepare
from shared.amqp.publisher import Publisher
from shared.contract.messages import SubmitTransaction
from shared.redis.status_cache import Claim, Holder, StatusCache
from shared.settings import Settings

REDIS_TIMEOUT_MS = 50
SLOW_PUBLISH_S = 0.2  # four times the Redis budget


class Cache:
    """The status cache's submission commands, each recorded as (command, reference IDs) once
    its reply came (one turn of the event loop, for the round trip)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, list[str]]] = []

    async def _answered(self, command: str, reference_ids: list[str]) -> None:
        await asyncio.sleep(0)
        self.commands.append((command, reference_ids))

    async def reserve(
        self, project_id: str, reference_id: str, *_: Any, **__: Any
    ) -> Holder | None:
        await self._answered("reserve", [reference_id])
        return None

    async def reserve_many(self, project_id: str, claims: list[Claim]) -> list[Holder | None]:
        await self._answered("reserve", [claim.reference_id for claim in claims])
        return [None] * len(claims)

    async def confirm(self, project_id: str, reference_id: str, *_: Any, **__: Any) -> None:
        await self._answered("confirm", [reference_id])

    async def confirm_many(self, project_id: str, claims: list[Claim]) -> None:
        await self._answered("confirm", [claim.reference_id for claim in claims])

    async def release_many(self, project_id: str, claims: list[Claim]) -> None:
        await self._answered("release", [claim.reference_id for claim in claims])


class SlowPublisher:
    async def publish_coalesced(
        self, project_id: str, body: dict[str, Any], request_id: str | None = None
    ) -> None:
        await asyncio.sleep(SLOW_PUBLISH_S)

    async def publish_batch(
        self,
        project_id: str,
        bodies: list[dict[str, Any]],
        *,
        request_ids: list[str | None] | None = None,
    ) -> None:
        await asyncio.sleep(SLOW_PUBLISH_S)


class References:
    """The lookups in PostgreSQL: none found, or `failure` raised."""

    def __init__(self, failure: BaseException | None = None) -> None:
        self.failure = failure

    async def find(self, project_id: str, reference_id: str) -> None:
        if self.failure is not None:
            raise self.failure

    async def find_many(self, project_id: str, reference_ids: list[str]) -> list[None]:
        if self.failure is not None:
            raise self.failure
        return [None] * len(reference_ids)


def submitter(cache: Cache, references: References) -> Submitter:
    settings = Settings(redis_timeout_ms=REDIS_TIMEOUT_MS)
    return Submitter(
        settings,
        cast(StatusCache, cache),
        cast(Publisher, SlowPublisher()),
        cast(AppliedReferences, references),
        cast(Duplicates, None),
    )


def submission(reference_id: str) -> Submission:
    body = SubmitTransaction.model_validate(
        {"referenceId": reference_id, "operations": [{"type": "Issue", "to": "w", "amount": "1"}]},
        context={"operations_per_transaction_max": 10, "reference_id_length_max": 64},
    )
    return prepare("p", body, datetime(2026, 12, 6, tzinfo=UTC))


async def test_a_slow_publish_is_still_confirmed() -> None:
    cache = Cache()
    assert await submitter(cache, References()).submit("p", submission("one")) is None
    assert cache.commands == [("reserve", ["one"]), ("confirm", ["one"])]


async def test_a_slow_batch_publish_is_still_confirmed() -> None:
    cache = Cache()
    outcomes = await submitter(cache, References()).submit_many(
        "p", [submission("one"), submission("two")]
    )
    assert outcomes == [None, None]
    assert cache.commands == [("reserve", ["one", "two"]), ("confirm", ["one", "two"])]


@pytest.mark.parametrize("failure", [RuntimeError("lookup"), asyncio.CancelledError()])
async def test_a_failed_lookup_releases_the_reservation(failure: BaseException) -> None:
    cache = Cache()
    with pytest.raises(type(failure)):
        await submitter(cache, References(failure)).submit("p", submission("one"))
    assert cache.commands == [("reserve", ["one"]), ("release", ["one"])]


@pytest.mark.parametrize("failure", [RuntimeError("lookup"), asyncio.CancelledError()])
async def test_a_failed_batch_lookup_releases_the_reservations(failure: BaseException) -> None:
    cache = Cache()
    with pytest.raises(type(failure)):
        await submitter(cache, References(failure)).submit_many(
            "p", [submission("one"), submission("two")]
        )
    assert cache.commands == [("reserve", ["one", "two"]), ("release", ["one", "two"])]
