"""The status cache against the real Redis: reserving many reference IDs in one command (and
concurrent single reserves, which share commands) answers, per claim, whether it is ours or
who holds it; releasing frees only what is still ours; final states are written with their
TTL in one command; an unreachable Redis is CacheUnavailable for every waiting claim."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from shared.errors import CacheUnavailable
from shared.ids import new_id
from shared.redis.status_cache import (
    Claim,
    Holder,
    StatusCache,
    create_client,
    reference_key,
    status_key,
)
from tests.support import namespace_settings


@pytest.fixture
async def client() -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(namespace_settings().redis_url.get_secret_value())
    yield connection
    await connection.aclose()


def claim(reference_id: str, digest: bytes = b"\x01" * 32) -> Claim:
    transaction_id = new_id()
    return Claim(reference_id, transaction_id, digest, {"id": transaction_id, "status": "Pending"})


async def test_reserve_many_answers_per_claim_and_release_many_frees_only_ours(
    client: redis.Redis,
) -> None:
    cache = StatusCache(client, reference_ttl_s=60, status_ttl_s=30)
    project = new_id()
    earlier = claim("taken", b"\x02" * 32)
    assert await cache.reserve_many(project, [earlier]) == [None]
    first, taken_again, second = claim("a"), claim("taken"), claim("b")
    holders = await cache.reserve_many(project, [first, taken_again, second])
    assert holders == [None, Holder(earlier.transaction_id, earlier.digest, False), None]
    assert await cache.get(project, first.transaction_id) == first.pending
    assert 0 < await client.ttl(reference_key(project, "a")) <= 60
    assert 0 < await client.ttl(status_key(project, first.transaction_id)) <= 30
    await cache.release_many(project, [first, taken_again, second])
    assert await client.exists(reference_key(project, "a"), reference_key(project, "b")) == 0
    assert await client.exists(status_key(project, first.transaction_id)) == 0
    assert await cache.reserve_many(project, [claim("taken")]) == [
        Holder(earlier.transaction_id, earlier.digest, False)
    ]


async def test_confirm_many_keeps_only_our_unconfirmed_reservations_for_the_long_ttl(
    client: redis.Redis,
) -> None:
    """A reservation lives `reference_pending_ttl_s` until its publish is confirmed, then
    `reference_ttl_s`, and a reservation another transaction holds is left alone."""
    cache = StatusCache(client, reference_ttl_s=600, status_ttl_s=30, reference_pending_ttl_s=20)
    project = new_id()
    ours, theirs = claim("ours"), claim("theirs", b"\x03" * 32)
    assert await cache.reserve_many(project, [ours, theirs]) == [None, None]
    assert 0 < await client.ttl(reference_key(project, "ours")) <= 20
    impostor = claim("theirs")  # same reference ID, another transaction
    await cache.confirm_many(project, [ours, impostor])
    assert 20 < await client.ttl(reference_key(project, "ours")) <= 600
    assert 0 < await client.ttl(reference_key(project, "theirs")) <= 20
    assert await cache.reserve_many(project, [claim("ours"), claim("theirs")]) == [
        Holder(ours.transaction_id, ours.digest, True),
        Holder(theirs.transaction_id, theirs.digest, False),
    ]
    await cache.release_many(project, [ours])  # a confirmed reservation is not released
    assert await client.exists(reference_key(project, "ours")) == 1


async def test_put_many_writes_every_state_with_its_ttl(client: redis.Redis) -> None:
    cache = StatusCache(client, reference_ttl_s=60, status_ttl_s=30)
    project = new_id()
    states = [(project, new_id(), {"status": "Completed", "n": number}) for number in range(50)]
    await cache.put_many(states)
    found = await cache.get_many(project, [transaction_id for _, transaction_id, _ in states])
    assert found == [body for _, _, body in states]
    assert 0 < await client.ttl(status_key(project, states[0][1])) <= 30


async def test_concurrent_reserves_share_commands_and_each_gets_its_own_answer(
    client: redis.Redis,
) -> None:
    """Claims made together go to Redis together; the first claim of a reference ID wins and
    the others learn who holds it, exactly as one by one."""
    cache = StatusCache(client, reference_ttl_s=60, status_ttl_s=30)
    project = new_id()
    claims = [claim(f"r{number % 300}") for number in range(600)]
    answers = await asyncio.gather(
        *(
            cache.reserve(project, c.reference_id, c.transaction_id, c.digest, c.pending)
            for c in claims
        )
    )
    assert answers[:300] == [None] * 300
    assert answers[300:] == [Holder(c.transaction_id, c.digest, False) for c in claims[:300]]
    again = claim("r7")
    assert await cache.reserve(
        project, again.reference_id, again.transaction_id, again.digest, again.pending
    ) == Holder(claims[7].transaction_id, claims[7].digest, False)


async def test_reserve_answers_503_material_when_redis_is_unreachable() -> None:
    unreachable = create_client("redis://127.0.0.1:1/0", connections_max=4, timeout_s=2)
    cache = StatusCache(unreachable, reference_ttl_s=60, status_ttl_s=30)
    try:
        one = claim("x")
        results = await asyncio.gather(
            *(
                cache.reserve(new_id(), one.reference_id, one.transaction_id, one.digest, {})
                for _ in range(3)
            ),
            return_exceptions=True,
        )
    finally:
        await unreachable.aclose()
    assert all(isinstance(result, CacheUnavailable) for result in results)
