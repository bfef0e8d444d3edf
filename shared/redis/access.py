"""Access in Redis: the token buckets of the rate limits per key, shared by every gateway of a
deployment, and the notices of revoked keys (pub/sub) that make every gateway forget a revoked
key within a second. Redis errors become CacheUnavailable here and nowhere else.

A bucket holds up to `burst` requests and regains `rate_per_s` a second, counted in thousandths
of a request so that the script does integer arithmetic only; the clock is Redis's own (TIME),
so gateways whose clocks disagree still share one bucket. The takes of concurrent requests
travel in one EVAL over the gateway's pipelined connection (about 12 us of client CPU a
command: shared/redis/pipeline.py), as the reservations do (decision 0007)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.coalescer import Coalescer
from shared.errors import CacheUnavailable
from shared.redis.pipeline import PipelinedConnection
from shared.settings import Settings

log = logging.getLogger(__name__)
REVOKED_CHANNEL = "cw:keys:revoked"

# KEYS the buckets of the takes, in order (a key's bucket once per take); ARGV a (rate in
# requests a second, burst, requests wanted, requests given back) quadruple per take. What is
# given back (a lapsed lease's unused requests) goes back first; then each take gets as many
# whole requests as the bucket holds, up to those wanted. Answers a (requests granted,
# thousandths of a request left) pair per take.
TAKE_MANY = """
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local answers = {}
for index, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[4 * index - 3]), tonumber(ARGV[4 * index - 2]) * 1000
  local wanted, given_back = tonumber(ARGV[4 * index - 1]), tonumber(ARGV[4 * index]) * 1000
  local bucket = redis.call('HMGET', key, 'left', 'at')
  local left, at = tonumber(bucket[1]), tonumber(bucket[2])
  if left == nil or at == nil then
    left, at = burst, now_ms
  end
  left = math.min(burst, left + math.max(0, now_ms - at) * rate + given_back)
  local granted = math.min(wanted, math.floor(left / 1000))
  left = left - granted * 1000
  redis.call('HSET', key, 'left', left, 'at', now_ms)
  redis.call('PEXPIRE', key, math.ceil(burst / rate) + 1000)
  answers[2 * index - 1] = granted
  answers[2 * index] = left
end
return answers
"""


@dataclass(frozen=True, slots=True)
class Taken:
    """What a take got from a bucket: whole requests granted (0 when it was empty) and what was
    left in the bucket after them."""

    granted: int
    left_milli: int


def bucket_key(key_id: str) -> str:
    return f"cw:rate:{key_id}"


class RateBuckets:
    """The token buckets of the keys: over a pipelined connection where the URL allows one,
    else through redis-py's client. Concurrent takes share one command (shared/coalescer.py):
    under load one round trip serves every request that arrived during the one before."""

    def __init__(
        self,
        client: redis.Redis,
        pipeline: PipelinedConnection | None,
        *,
        items_max: int,
        sends_in_flight_max: int,
    ) -> None:
        self._client = client
        self._pipeline = pipeline
        self._taking: Coalescer[tuple[str, int, int, int, int], Taken] = Coalescer(
            self._take_many,
            items_max=items_max,
            sends_in_flight_max=sends_in_flight_max,
            copy_error=_copy_error,
            expired=_late,
        )

    @classmethod
    def open(cls, settings: Settings) -> RateBuckets:
        url, timeout_s = settings.redis_url.get_secret_value(), settings.redis_timeout_ms / 1000
        return cls(
            redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s),
            PipelinedConnection.from_url(url, timeout_s=timeout_s),
            items_max=settings.redis_coalesced_items_max,
            sends_in_flight_max=settings.coalesced_sends_in_flight_max,
        )

    async def take(
        self,
        key_id: str,
        rate_per_s: int,
        burst: int,
        wanted: int,
        given_back: int = 0,
        *,
        deadline_s: float | None = None,
    ) -> Taken:
        """Give back `given_back` requests to the key's bucket, then take up to `wanted`;
        CacheUnavailable if Redis cannot answer before `deadline_s` (the event loop's clock)."""
        item = (key_id, rate_per_s, burst, wanted, given_back)
        return await self._taking.submit(item, deadline_s)

    async def _take_many(self, takes: list[tuple[str, int, int, int, int]]) -> list[Taken]:
        keys = [bucket_key(take[0]) for take in takes]
        arguments: list[int] = []
        for _, rate_per_s, burst, wanted, given_back in takes:
            arguments.extend((rate_per_s, burst, wanted, given_back))
        try:
            if self._pipeline is not None:
                answers = await self._pipeline.execute(
                    "EVAL", TAKE_MANY, len(keys), *keys, *arguments
                )
            else:
                answers = await self._client.eval(TAKE_MANY, len(keys), *keys, *arguments)
        except RedisError as error:
            raise CacheUnavailable("the rate limits are unavailable") from error
        return [
            Taken(int(answers[2 * index]), int(answers[2 * index + 1]))
            for index in range(len(takes))
        ]

    async def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        await self._client.aclose()


def _late() -> CacheUnavailable:
    return CacheUnavailable("the rate limits did not answer in time")


def _copy_error(error: Exception) -> Exception:
    """Each waiting caller raises its own CacheUnavailable."""
    return CacheUnavailable(error.message) if isinstance(error, CacheUnavailable) else error


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
