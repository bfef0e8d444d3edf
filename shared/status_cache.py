"""Redis as a fast path and a status cache, never as the truth: reference-ID reservations
(SET NX) and the latest known state of each transaction. Either may vanish at any time;
PostgreSQL decides what was applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from shared.errors import CacheUnavailable

# Reserve the reference ID and record the Pending state in one round trip; on a duplicate,
# return what the reference ID already points to. A reservation is first unconfirmed and lives
# only a little longer than a publish may take; once the broker confirmed the publish it is
# marked confirmed and kept for `reference_ttl_s`. So a reservation whose publish failed and
# could not be released (Redis unreachable, the gateway gone, or a Redis command that timed out
# at the client yet ran later) blocks its reference ID for seconds, not days.
_RESERVE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
  return false
end
return redis.call('GET', KEYS[1])
"""
# Mark a reservation confirmed, and release one, only if it is still ours.
_CONFIRM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
end
return 0
"""


def reference_key(project_id: str, reference_id: str) -> str:
    return f"cw:ref:{project_id}:{reference_id}"


def status_key(project_id: str, transaction_id: str) -> str:
    return f"cw:tx:{project_id}:{transaction_id}"


@dataclass(frozen=True, slots=True)
class Holder:
    """The transaction holding a reference ID. An unconfirmed holder's publish is still in
    progress, or failed: it may never exist."""

    transaction_id: str
    digest: bytes
    confirmed: bool


def _reservation(transaction_id: str, digest: bytes, *, confirmed: bool) -> bytes:
    return orjson.dumps({"id": transaction_id, "digest": digest.hex(), "confirmed": confirmed})


class StatusCache:
    """Reference reservations and transaction states in Redis; Redis errors become
    CacheUnavailable here and nowhere else."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        reference_ttl_s: int,
        status_ttl_s: int,
        reference_pending_ttl_s: int | None = None,
    ) -> None:
        self._client = client
        self._reference_ttl_s = reference_ttl_s
        self._reference_pending_ttl_s = reference_pending_ttl_s or reference_ttl_s
        self._status_ttl_s = status_ttl_s
        self._reserve = client.register_script(_RESERVE)
        self._confirm = client.register_script(_CONFIRM)
        self._release = client.register_script(_RELEASE)

    async def reserve(
        self,
        project_id: str,
        reference_id: str,
        transaction_id: str,
        digest: bytes,
        pending: dict[str, Any],
    ) -> Holder | None:
        """Claim a reference ID for a new transaction, unconfirmed until `confirm`; return
        its holder if it is taken."""
        keys = [reference_key(project_id, reference_id), status_key(project_id, transaction_id)]
        arguments: list[bytes | int] = [
            _reservation(transaction_id, digest, confirmed=False),
            orjson.dumps(pending),
            self._reference_pending_ttl_s,
            self._status_ttl_s,
        ]
        try:
            existing = await self._reserve(keys=keys, args=arguments)
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error
        if existing is None:
            return None
        holder = orjson.loads(existing)
        return Holder(holder["id"], bytes.fromhex(holder["digest"]), holder.get("confirmed", True))

    async def confirm(
        self, project_id: str, reference_id: str, transaction_id: str, digest: bytes
    ) -> None:
        """Keep a reservation whose publish the broker confirmed for `reference_ttl_s`."""
        arguments: list[bytes | int] = [
            _reservation(transaction_id, digest, confirmed=False),
            _reservation(transaction_id, digest, confirmed=True),
            self._reference_ttl_s,
        ]
        try:
            await self._confirm(keys=[reference_key(project_id, reference_id)], args=arguments)
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error

    async def release(
        self, project_id: str, reference_id: str, transaction_id: str, digest: bytes
    ) -> None:
        """Undo a reservation whose publish was not confirmed."""
        value = _reservation(transaction_id, digest, confirmed=False)
        keys = [reference_key(project_id, reference_id), status_key(project_id, transaction_id)]
        try:
            await self._release(keys=keys, args=[value])
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error

    async def get(self, project_id: str, transaction_id: str) -> dict[str, Any] | None:
        """The cached state of a transaction, if Redis has it."""
        try:
            raw = await self._client.get(status_key(project_id, transaction_id))
        except RedisError as error:
            raise CacheUnavailable("the status cache is unavailable") from error
        return None if raw is None else dict(orjson.loads(raw))

    async def put_many(self, states: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Record final states, given as (project id, transaction id, body), in one pipeline."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for project_id, transaction_id, body in states:
                    pipe.set(
                        status_key(project_id, transaction_id),
                        orjson.dumps(body),
                        ex=self._status_ttl_s,
                    )
                await pipe.execute()
        except RedisError as error:
            raise CacheUnavailable("the status cache is unavailable") from error


def create_client(url: str) -> redis.Redis:
    """A Redis client with short timeouts: a slow cache must not hold up the money path."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
