"""Access in Redis: the token buckets of the rate limits per key, shared by every gateway of a
deployment, and the notices of revoked keys (pub/sub) that make every gateway forget a revoked
key within a second. Redis errors become CacheUnavailable here and nowhere else.

A bucket holds up to `burst` requests and regains `rate_per_s` a second, counted in thousandths
of a request so that the script does integer arithmetic only; the clock is Redis's own (TIME),
so gateways whose clocks disagree still share one bucket. One EVAL per request, over the
gateway's pipelined connection (about 12 us of client CPU: shared/redis/pipeline.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.errors import CacheUnavailable
from shared.redis.pipeline import PipelinedConnection

log = logging.getLogger(__name__)
REVOKED_CHANNEL = "cw:keys:revoked"

# KEYS[1] the key's bucket; ARGV rate (requests a second) and burst. Answers {allowed (1 or 0),
# thousandths of a request left}.
TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]) * 1000
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'left', 'at')
local left, at = tonumber(bucket[1]), tonumber(bucket[2])
if left == nil or at == nil then
  left, at = burst, now_ms
end
left = math.min(burst, left + math.max(0, now_ms - at) * rate)
local allowed = 0
if left >= 1000 then
  left = left - 1000
  allowed = 1
end
redis.call('HSET', KEYS[1], 'left', left, 'at', now_ms)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return {allowed, left}
"""


@dataclass(frozen=True, slots=True)
class Taken:
    """One request taken from a bucket, or refused: what the RateLimit headers say."""

    allowed: bool
    left_milli: int
    rate_per_s: int
    burst: int

    @property
    def remaining(self) -> int:
        """Whole requests left in the bucket."""
        return self.left_milli // 1000

    @property
    def reset_s(self) -> int:
        """Seconds until the bucket is full again."""
        missing_milli = self.burst * 1000 - self.left_milli
        return -(-missing_milli // (self.rate_per_s * 1000))

    @property
    def retry_after_s(self) -> int:
        """Seconds until the bucket holds one request again (at least 1)."""
        missing_milli = max(1000 - self.left_milli, 1)
        return max(1, -(-missing_milli // (self.rate_per_s * 1000)))


def bucket_key(key_id: str) -> str:
    return f"cw:rate:{key_id}"


class RateBuckets:
    """The token buckets of the keys: over a pipelined connection where the URL allows one,
    else through redis-py's client."""

    def __init__(self, client: redis.Redis, pipeline: PipelinedConnection | None) -> None:
        self._client = client
        self._pipeline = pipeline

    @classmethod
    def open(cls, url: str, *, timeout_s: float) -> RateBuckets:
        return cls(
            redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s),
            PipelinedConnection.from_url(url, timeout_s=timeout_s),
        )

    async def take(self, key_id: str, rate_per_s: int, burst: int) -> Taken:
        """Take one request from the key's bucket; CacheUnavailable if Redis cannot answer."""
        arguments = (TAKE, 1, bucket_key(key_id), rate_per_s, burst)
        try:
            if self._pipeline is not None:
                allowed, left = await self._pipeline.execute("EVAL", *arguments)
            else:
                allowed, left = await self._client.eval(*arguments)
        except RedisError as error:
            raise CacheUnavailable("the rate limits are unavailable") from error
        return Taken(bool(allowed), int(left), rate_per_s, burst)

    async def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        await self._client.aclose()


class KeyNotices:
    """Revocation notices over Redis pub/sub: announced by the gateway (or the CLI) that revoked
    a key, followed by every gateway. The subscription's connection has no read timeout (it
    waits for notices); announcing is bounded by `timeout_s`."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._listening = redis.Redis.from_url(url, socket_connect_timeout=timeout_s)

    async def announce_revoked(self, key_id: str) -> None:
        """Tell every gateway that the key is revoked (each forgets it at once);
        CacheUnavailable if Redis cannot be told: gateways then notice once their cache entry
        expires."""
        try:
            await self._client.publish(REVOKED_CHANNEL, key_id)
        except RedisError as error:
            raise CacheUnavailable("revocations cannot be announced") from error

    async def follow(
        self,
        on_revoked: Callable[[str], None],
        on_subscribed: Callable[[], None],
        *,
        retry_ms: int,
    ) -> None:
        """Call `on_revoked(key id)` for every revocation announced, until cancelled. Notices
        sent while the subscription was down are lost, so every (re)subscription calls
        `on_subscribed` first, for the gateway to forget every key it had cached. A lost
        connection is tried again every `retry_ms`."""
        while True:
            try:
                async with self._listening.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(REVOKED_CHANNEL)
                    on_subscribed()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            on_revoked(_text(message["data"]))
            except (RedisError, OSError) as error:
                log.warning("revocation notices lost (%s); subscribing again", error)
            await asyncio.sleep(retry_ms / 1000)

    async def close(self) -> None:
        await self._client.aclose()
        await self._listening.aclose()


def _text(data: bytes | str) -> str:
    return data.decode() if isinstance(data, bytes) else data
