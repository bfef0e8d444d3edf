"""Rate limits per key: a token bucket of `rate_limit_per_s` requests a second and
`rate_limit_burst` at once (the key's own limits where it has them), kept in Redis and shared
by every gateway of the deployment (shared/redis/access.py). Over it, 429 RateLimited with
Retry-After; every answer to an authenticated request carries `RateLimit-Limit` (the burst),
`RateLimit-Remaining` and `RateLimit-Reset` (seconds until the bucket is full again).

A gateway takes requests from a key's bucket in leases: one take from Redis brings up to
1/`rate_limit_lease_parts` of the burst, which this gateway's requests of the key then use
without asking Redis, for at most `rate_limit_lease_ms`. A key whose burst is smaller than
`rate_limit_lease_parts` takes one request at a time, exactly. So the limit holds across the
gateways (what a lease holds was taken from the shared bucket), and a busy key costs one Redis
round trip per lease rather than per request. A key refused is refused by this gateway without
asking Redis until its bucket has refilled one request (as Redis said when it refused), so that
a key hammering over its limit costs no Redis round trip per refusal. What a lapsed lease did
not use is given back with the gateway's next take of that key, in the same command; until then
(at most one lease per gateway and key) the other gateways cannot use it. `RateLimit-Remaining`
is the bucket as Redis last told plus this gateway's lease
(docs/decisions/0021-access.md).

An OAuth2 access token takes from its client's bucket. While Redis cannot answer, requests are
not limited (logged once): a rate limit protects the service, it must not stop it when its
cache is away, nor spend the request's Redis budget (`redis_timeout_ms`, which the submit path
needs): a take waits at most `rate_limit_redis_wait_ms`, and after one that failed the limiter
does not ask Redis again for `rate_limit_outage_pause_ms`."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import MutableMapping
from dataclasses import dataclass

from aiohttp import web

from gateway.auth import Principal
from shared.errors import CacheUnavailable, TooManyRequests
from shared.redis.access import RateBuckets
from shared.settings import Settings

log = logging.getLogger(__name__)
TAKES_WAITED_MAX = 4  # in-flight takes of its key a request waits for before taking its own


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the RateLimit headers of one answer say."""

    burst: int
    remaining: int
    reset_s: int


RATE_LIMIT = web.RequestKey("rate_limit", Allowance)


@dataclass(slots=True)
class _Lease:
    left: int  # requests this gateway may still use without asking Redis
    until_s: float  # on the monotonic clock
    bucket_left: int  # whole requests the bucket held when last taken from


class RateLimiter:
    """Takes one request from the caller's bucket, or refuses it."""

    def __init__(self, buckets: RateBuckets, settings: Settings) -> None:
        self._buckets = buckets
        self._rate_per_s = settings.rate_limit_per_s
        self._burst = settings.rate_limit_burst
        self._lease_parts = settings.rate_limit_lease_parts
        self._lease_s = settings.rate_limit_lease_ms / 1000
        self._leases_max = settings.auth_cache_entries_max
        self._leases: dict[str, _Lease] = {}
        # Keys refused, and when their buckets will have refilled one request (monotonic);
        # at most `auth_cache_entries_max` of them, the oldest forgotten first.
        self._empty_until_s: dict[str, float] = {}
        self._taking: dict[str, asyncio.Future[None]] = {}  # the take in flight, per key
        self._wait_s = settings.rate_limit_redis_wait_ms / 1000
        self._outage_pause_s = settings.rate_limit_outage_pause_ms / 1000
        self._unlimited_until_s = 0.0  # after a take that failed: not limited until then
        self._unlimited_since_outage = False

    async def admit(self, request: web.Request, principal: Principal) -> None:
        """Take one request from the key's bucket: 429 RateLimited when it is empty."""
        key = principal.key
        rate_per_s = key.rate_limit_per_s or self._rate_per_s
        if rate_per_s == 0:
            return
        burst = key.rate_limit_burst or self._burst
        # One take of a key at a time in this gateway: the requests that come meanwhile wait for
        # it and share its lease. Concurrent takes each took a lease's worth: during a Redis
        # stall, hundreds of them waited in the connection and, sent once it resumed, emptied the
        # bucket for requests nobody was waiting for any more.
        for _ in range(TAKES_WAITED_MAX):
            if self._from_lease(request, key.id, burst, rate_per_s):
                return
            taking = self._taking.get(key.id)
            if taking is None:
                break
            await asyncio.shield(taking)
        lease = self._leases.get(key.id)
        now_s = time.monotonic()
        empty_until_s = self._empty_until_s.get(key.id)
        if empty_until_s is not None:
            if now_s < empty_until_s:
                request[RATE_LIMIT] = _allowance(burst, rate_per_s, 0)
                raise _refusal(empty_until_s - now_s)
            del self._empty_until_s[key.id]
        if now_s < self._unlimited_until_s:
            return
        wanted = max(1, min(burst // self._lease_parts, int(rate_per_s * self._lease_s)))
        given_back = 0
        if lease is not None and lease.left > 0:  # lapsed: its requests go back to the bucket
            given_back, lease.left = lease.left, 0
        loop = asyncio.get_running_loop()
        taking = self._taking[key.id] = loop.create_future()
        try:
            taken = await self._buckets.take(
                key.id, rate_per_s, burst, wanted, given_back, deadline_s=loop.time() + self._wait_s
            )
        except CacheUnavailable as error:
            self._unlimited_until_s = time.monotonic() + self._outage_pause_s
            if not self._unlimited_since_outage:
                self._unlimited_since_outage = True
                log.warning("%s: requests are not rate limited until Redis answers", error.message)
            return
        finally:
            if self._taking.get(key.id) is taking:
                del self._taking[key.id]
            taking.set_result(None)
        self._unlimited_since_outage = False
        bucket_left = taken.left_milli // 1000
        if taken.granted == 0:
            request[RATE_LIMIT] = _allowance(burst, rate_per_s, bucket_left)
            refill_s = (1000 - taken.left_milli) / 1000 / rate_per_s
            if len(self._empty_until_s) >= self._leases_max:
                del self._empty_until_s[next(iter(self._empty_until_s))]
            self._empty_until_s[key.id] = now_s + refill_s
            raise _refusal(refill_s)
        self._lease(key.id, taken.granted - 1, now_s, bucket_left)
        request[RATE_LIMIT] = _allowance(burst, rate_per_s, bucket_left + self._left(key.id))

    def _from_lease(self, request: web.Request, key_id: str, burst: int, rate_per_s: int) -> bool:
        """Take the request from this gateway's lease of the key, if it has one left."""
        lease = self._leases.get(key_id)
        if lease is not None and lease.left > 0 and time.monotonic() < lease.until_s:
            lease.left -= 1
            request[RATE_LIMIT] = _allowance(burst, rate_per_s, lease.bucket_left + lease.left)
            return True
        return False

    def _lease(self, key_id: str, extra: int, now_s: float, bucket_left: int) -> None:
        lease = self._leases.get(key_id)
        if lease is None or now_s >= lease.until_s:
            if lease is None and len(self._leases) >= self._leases_max:
                del self._leases[next(iter(self._leases))]
            self._leases[key_id] = _Lease(extra, now_s + self._lease_s, bucket_left)
        else:  # concurrent takes of one key: each brings its own requests
            lease.left += extra
            lease.bucket_left = bucket_left

    def _left(self, key_id: str) -> int:
        return self._leases[key_id].left


def _refusal(refill_s: float) -> TooManyRequests:
    return TooManyRequests(
        "the key's rate limit is exhausted",
        retry_after_s=max(1, math.ceil(refill_s)),
        code="RateLimited",
    )


def _allowance(burst: int, rate_per_s: int, remaining: int) -> Allowance:
    return Allowance(burst, remaining, -(-(burst - remaining) // rate_per_s))


def add_rate_limit_headers(request: web.Request, headers: MutableMapping[str, str]) -> None:
    """The RateLimit headers of an answer to a request that took from a bucket, set by the
    outermost middleware (gateway/access.py) on every answer, errors included: a response
    signal would cost every request an awaited dispatch."""
    allowance = request.get(RATE_LIMIT)
    if allowance is not None:
        headers["RateLimit-Limit"] = str(allowance.burst)
        headers["RateLimit-Remaining"] = str(allowance.remaining)
        headers["RateLimit-Reset"] = str(allowance.reset_s)
