"""Rate limits per key: a token bucket of `rate_limit_per_s` requests a second and
`rate_limit_burst` at once (the key's own limits where it has them), kept in Redis and shared
by every gateway of the deployment (shared/redis/access.py). Over it, 429 RateLimited with
Retry-After; every answer to an authenticated request carries `RateLimit-Limit` (the burst),
`RateLimit-Remaining` and `RateLimit-Reset` (seconds until the bucket is full again).

An OAuth2 access token takes from its client's bucket. While Redis cannot answer, requests are
not limited (logged once): a rate limit protects the service, it must not stop it when its
cache is away. docs/decisions/0021-access.md says why one Redis round trip per request."""

from __future__ import annotations

import logging

from aiohttp import web

from gateway.auth import Principal
from shared.errors import CacheUnavailable, TooManyRequests
from shared.redis.access import RateBuckets, Taken
from shared.settings import Settings

log = logging.getLogger(__name__)
RATE_LIMIT = web.RequestKey("rate_limit", Taken)


class RateLimiter:
    """Takes one request from the caller's bucket, or refuses it."""

    def __init__(self, buckets: RateBuckets, settings: Settings) -> None:
        self._buckets = buckets
        self._rate_per_s = settings.rate_limit_per_s
        self._burst = settings.rate_limit_burst
        self._unlimited_since_outage = False

    async def admit(self, request: web.Request, principal: Principal) -> None:
        """Take one request from the key's bucket: 429 RateLimited when it is empty."""
        key = principal.key
        rate_per_s = key.rate_limit_per_s or self._rate_per_s
        if rate_per_s == 0:
            return
        try:
            taken = await self._buckets.take(
                key.id, rate_per_s, key.rate_limit_burst or self._burst
            )
        except CacheUnavailable as error:
            if not self._unlimited_since_outage:
                self._unlimited_since_outage = True
                log.warning("%s: requests are not rate limited until Redis answers", error.message)
            return
        self._unlimited_since_outage = False
        request[RATE_LIMIT] = taken
        if not taken.allowed:
            raise TooManyRequests(
                "the key's rate limit is exhausted",
                retry_after_s=taken.retry_after_s,
                code="RateLimited",
            )


async def add_rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The RateLimit headers of an answer to a request that took from a bucket (an
    `on_response_prepare` signal: errors answered by the middleware carry them too)."""
    taken = request.get(RATE_LIMIT)
    if taken is not None:
        response.headers["RateLimit-Limit"] = str(taken.burst)
        response.headers["RateLimit-Remaining"] = str(taken.remaining)
        response.headers["RateLimit-Reset"] = str(taken.reset_s)
