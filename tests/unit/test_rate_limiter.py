"""The gateway's side of the rate limits (gateway/rate_limits.py) against a fake of our own
bucket interface: a key refused is refused again without asking the buckets until its bucket
has refilled one request, and then asked again. The buckets themselves, in Redis, are tested
on the real service (tests/integration/test_rate_limits.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.auth import Principal
from gateway.rate_limits import RATE_LIMIT, RateLimiter
from shared.access.keystore import Scope, StoredKey
from shared.errors import TooManyRequests
from shared.redis.access import Taken
from shared.settings import Settings

RATE_PER_S = 20


class Buckets:
    """Grants what `granted` says and counts the takes."""

    def __init__(self) -> None:
        self.granted = 0
        self.left_milli = 0  # empty: one request refills in 1 / RATE_PER_S s
        self.takes = 0

    async def take(self, *_: Any, **__: Any) -> Taken:
        self.takes += 1
        return Taken(self.granted, self.left_milli)


def principal() -> Principal:
    key = StoredKey(
        id="k1",
        tenant_id="t1",
        secret_digest=b"",
        name="noisy",
        scope=Scope.FULL,
        project_id=None,
        customer_id=None,
        expires_at=None,
        oauth_client=False,
        rate_limit_per_s=RATE_PER_S,
        rate_limit_burst=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return Principal(key, Scope.FULL)


async def test_a_refused_key_is_refused_without_asking_until_its_bucket_refilled() -> None:
    buckets = Buckets()
    limiter = RateLimiter(buckets, Settings())  # type: ignore[arg-type]
    caller = principal()
    refusals = []
    started = time.monotonic()
    while time.monotonic() - started < 0.2 / RATE_PER_S:
        request = make_mocked_request("GET", "/projects")
        with pytest.raises(TooManyRequests) as refused:
            await limiter.admit(request, caller)
        refusals.append(refused.value)
        assert request[RATE_LIMIT].remaining == 0
    assert len(refusals) > 1 and buckets.takes == 1
    assert all(refusal.retry_after_s == 1 for refusal in refusals)
    await asyncio.sleep(1.2 / RATE_PER_S)  # the bucket has refilled one request: asked again
    buckets.granted = 1
    await limiter.admit(make_mocked_request("GET", "/projects"), caller)
    assert buckets.takes == 2


class SlowBuckets(Buckets):
    """Answers a take once `release` is set: a Redis that stalls."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def take(self, *_: Any, **__: Any) -> Taken:
        self.takes += 1
        await self.release.wait()
        return Taken(self.granted, self.left_milli)


async def test_requests_of_a_key_share_the_take_in_flight() -> None:
    buckets = SlowBuckets()
    buckets.granted, buckets.left_milli = 100, 900_000
    limiter = RateLimiter(buckets, Settings())  # type: ignore[arg-type]
    caller = principal()
    admitted = [
        asyncio.create_task(limiter.admit(make_mocked_request("GET", "/projects"), caller))
        for _ in range(50)
    ]
    await asyncio.sleep(0.01)
    # However many wait while Redis stalls, one take is in flight (each took a lease's worth
    # that a stalled connection then sent all at once).
    assert buckets.takes == 1
    buckets.release.set()
    await asyncio.gather(*admitted)
    assert buckets.takes == 1  # the 50 requests came out of the one lease of 100
