"""Redis as a fast path and a status cache, never as the truth: reference-ID reservations
(SET NX) and the latest known state of each transaction. Either may vanish at any time;
PostgreSQL decides what was applied.

A reservation is first unconfirmed and lives only a little longer than a publish may take
(`reference_pending_ttl_s`); once the broker confirmed the publish it is marked confirmed and
kept for `reference_ttl_s`. So a reservation whose publish failed and could not be released
(Redis unreachable, the gateway gone, or a Redis command that timed out at the client yet ran
later) blocks its reference ID for seconds, not days."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import redis.asyncio as redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from shared.coalescer import Coalescer
from shared.errors import CacheUnavailable
from shared.redis import scripts
from shared.redis.pipeline import PipelinedConnection
from shared.settings import Settings

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class Claim:
    """A reference ID a new transaction wants, with the Pending state to record if it gets it."""

    reference_id: str
    transaction_id: str
    digest: bytes
    pending: dict[str, Any]


def _claim_keys(project_id: str, claim: Claim) -> list[str]:
    return [
        reference_key(project_id, claim.reference_id),
        status_key(project_id, claim.transaction_id),
    ]


def _copy_error(error: Exception) -> Exception:
    """Each waiting caller raises its own CacheUnavailable."""
    return CacheUnavailable(error.message) if isinstance(error, CacheUnavailable) else error


def _late() -> CacheUnavailable:
    return CacheUnavailable("the reference cache did not answer in time")


def _reference_value(transaction_id: str, digest: bytes, *, confirmed: bool = False) -> bytes:
    return orjson.dumps({"id": transaction_id, "digest": digest.hex(), "confirmed": confirmed})


@dataclass(frozen=True, slots=True)
class Holder:
    """The transaction holding a reference ID. An unconfirmed holder's publish is still in
    progress, or failed: it may never exist."""

    transaction_id: str
    digest: bytes
    confirmed: bool


def reference_key(project_id: str, reference_id: str) -> str:
    return f"cw:ref:{project_id}:{reference_id}"


def status_key(project_id: str, transaction_id: str) -> str:
    return f"cw:tx:{project_id}:{transaction_id}"


class StatusCache:
    """Reference reservations and transaction states in Redis; Redis errors become
    CacheUnavailable here and nowhere else. The scripts go over `pipeline` when one is given
    (`open` gives one to the gateway and the worker), else through `client`. Reservations, and
    their confirms, travel up to `items_max` in one command, `sends_in_flight_max` commands at
    once."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        reference_ttl_s: int,
        status_ttl_s: int,
        reference_pending_ttl_s: int | None = None,
        pipeline: PipelinedConnection | None = None,
        sends_in_flight_max: int = Settings.default_of("coalesced_sends_in_flight_max"),
        items_max: int = Settings.default_of("redis_coalesced_items_max"),
    ) -> None:
        self._client = client
        self._pipeline = pipeline
        self._reference_ttl_s = reference_ttl_s
        self._reference_pending_ttl_s = reference_pending_ttl_s or reference_ttl_s
        self._status_ttl_s = status_ttl_s
        self._reserving = Coalescer(
            self._reserve_claims,
            items_max=items_max,
            sends_in_flight_max=sends_in_flight_max,
            copy_error=_copy_error,
            expired=_late,
        )
        self._confirming = Coalescer(
            self._confirm_claims,
            items_max=items_max,
            sends_in_flight_max=sends_in_flight_max,
            copy_error=_copy_error,
            expired=_late,
        )
        self._confirm_many = client.register_script(scripts.CONFIRM_MANY)
        self._put_many = client.register_script(scripts.PUT_MANY)
        self._reserve_many = client.register_script(scripts.RESERVE_MANY)
        self._hand_over = client.register_script(scripts.HAND_OVER)
        self._release_many = client.register_script(scripts.RELEASE_MANY)

    @classmethod
    def open(cls, settings: Settings) -> StatusCache:
        """The cache of a gateway or a worker: redis-py's client of at most
        `redis_connections_max` connections, and for its scripts the pipelined connection where
        the URL allows one. `close` closes both."""
        url = settings.redis_url.get_secret_value()
        return cls(
            create_client(
                url,
                connections_max=settings.redis_connections_max,
                timeout_s=settings.redis_timeout_ms / 1000,
            ),
            reference_ttl_s=settings.reference_ttl_s,
            status_ttl_s=settings.status_ttl_s,
            reference_pending_ttl_s=settings.reference_pending_ttl_s,
            pipeline=PipelinedConnection.from_url(url, timeout_s=settings.redis_timeout_ms / 1000),
            sends_in_flight_max=settings.coalesced_sends_in_flight_max,
            items_max=settings.redis_coalesced_items_max,
        )

    async def ping(self) -> None:
        """Ask Redis for an answer (readiness); its errors as redis-py raises them."""
        await self._client.ping()

    async def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        await self._client.aclose()

    async def _evaluate(
        self, script: AsyncScript, keys: Sequence[str], arguments: Sequence[bytes | int]
    ) -> Any:
        """Run one of the scripts above: over the pipelined connection when there is one (as
        EVAL, which needs no SCRIPT LOAD after Redis restarts), else through the client."""
        if self._pipeline is not None:
            return await self._pipeline.execute("EVAL", script.script, len(keys), *keys, *arguments)
        return await script(keys=keys, args=arguments)

    async def reserve(
        self,
        project_id: str,
        reference_id: str,
        transaction_id: str,
        digest: bytes,
        pending: dict[str, Any],
        deadline_s: float | None = None,
    ) -> Holder | None:
        """Claim a reference ID for a new transaction, unconfirmed until `confirm`; return
        its holder if it is taken. The claims made in one turn of the event loop, or while the
        previous command of claims is unanswered, go to Redis as one command. Past
        `deadline_s` (the event loop's clock), CacheUnavailable."""
        claim = Claim(reference_id, transaction_id, digest, pending)
        return await self._reserving.submit((project_id, claim), deadline_s)

    async def reserve_many(self, project_id: str, claims: list[Claim]) -> list[Holder | None]:
        """`reserve` for many reference IDs of one project in one command; for each claim, in
        order, None if it is now ours (unconfirmed until `confirm_many`) or its holder."""
        return await self._reserve_claims([(project_id, claim) for claim in claims])

    async def _reserve_claims(self, claims: list[tuple[str, Claim]]) -> list[Holder | None]:
        keys: list[str] = []
        arguments: list[bytes | int] = [self._reference_pending_ttl_s, self._status_ttl_s]
        for project_id, claim in claims:
            keys.extend(_claim_keys(project_id, claim))
            arguments.append(_reference_value(claim.transaction_id, claim.digest))
            arguments.append(orjson.dumps(claim.pending))
        try:
            replies = await self._evaluate(self._reserve_many, keys, arguments)
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error
        return [None if existing is None else _holder(existing) for existing in replies]

    async def holder(self, project_id: str, reference_id: str) -> Holder | None:
        """The transaction holding a reference ID now, if Redis has one."""
        key = reference_key(project_id, reference_id)
        try:
            if self._pipeline is not None:
                raw = await self._pipeline.execute("GET", key)
            else:
                raw = await self._client.get(key)
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error
        return None if raw is None else _holder(raw)

    async def hand_over(
        self, project_id: str, claim: Claim, holder: Holder, state: dict[str, Any]
    ) -> None:
        """Replace our reservation of `claim`'s reference ID, which Redis had lost to the
        transaction `holder` that PostgreSQL says applied it, by that holder (confirmed), and
        cache its state: the next duplicate is answered from Redis."""
        keys = [
            reference_key(project_id, claim.reference_id),
            status_key(project_id, claim.transaction_id),
            status_key(project_id, holder.transaction_id),
        ]
        arguments: list[bytes | int] = [
            _reference_value(claim.transaction_id, claim.digest),
            _reference_value(holder.transaction_id, holder.digest, confirmed=True),
            orjson.dumps(state),
            self._reference_ttl_s,
            self._status_ttl_s,
        ]
        try:
            await self._evaluate(self._hand_over, keys, arguments)
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error

    async def confirm(
        self,
        project_id: str,
        reference_id: str,
        transaction_id: str,
        digest: bytes,
        deadline_s: float | None = None,
    ) -> None:
        """Keep a reservation whose publish the broker confirmed for `reference_ttl_s`. The
        confirms made in one turn of the event loop, or while the previous command of confirms
        is unanswered, go to Redis as one command. Past `deadline_s`, CacheUnavailable."""
        claim = Claim(reference_id, transaction_id, digest, {})
        await self._confirming.submit((project_id, claim), deadline_s)

    async def confirm_many(self, project_id: str, claims: list[Claim]) -> None:
        """`confirm` for many reservations of one project in one command."""
        if claims:
            await self._confirm_claims([(project_id, claim) for claim in claims])

    async def _confirm_claims(self, claims: list[tuple[str, Claim]]) -> list[None]:
        keys: list[str] = []
        arguments: list[bytes | int] = [self._reference_ttl_s]
        for project_id, claim in claims:
            keys.append(reference_key(project_id, claim.reference_id))
            arguments.append(_reference_value(claim.transaction_id, claim.digest, confirmed=False))
            arguments.append(_reference_value(claim.transaction_id, claim.digest, confirmed=True))
        try:
            await self._evaluate(self._confirm_many, keys, arguments)
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error
        return [None] * len(claims)

    async def release_many(self, project_id: str, claims: list[Claim]) -> None:
        """Undo reservations of one project whose publish was not confirmed, in one command:
        each only while it is still ours and unconfirmed."""
        if not claims:
            return
        keys: list[str] = []
        arguments: list[bytes] = []
        for claim in claims:
            keys.extend(_claim_keys(project_id, claim))
            arguments.append(_reference_value(claim.transaction_id, claim.digest))
        try:
            await self._evaluate(self._release_many, keys, arguments)
        except RedisError as error:
            raise CacheUnavailable("the reference cache is unavailable") from error

    async def get_many(
        self, project_id: str, transaction_ids: list[str]
    ) -> list[dict[str, Any] | None]:
        """The cached states of several transactions, in order, None where Redis has none."""
        if not transaction_ids:
            return []
        keys = [status_key(project_id, transaction_id) for transaction_id in transaction_ids]
        try:
            raws = await self._client.mget(keys)
        except RedisError as error:
            raise CacheUnavailable("the status cache is unavailable") from error
        return [None if raw is None else dict(orjson.loads(raw)) for raw in raws]

    async def get(self, project_id: str, transaction_id: str) -> dict[str, Any] | None:
        """The cached state of a transaction, if Redis has it."""
        try:
            raw = await self._client.get(status_key(project_id, transaction_id))
        except RedisError as error:
            raise CacheUnavailable("the status cache is unavailable") from error
        return None if raw is None else dict(orjson.loads(raw))

    async def put_many(self, states: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Record final states, given as (project id, transaction id, body), in one command."""
        if not states:
            return
        keys = [status_key(project_id, transaction_id) for project_id, transaction_id, _ in states]
        arguments: list[bytes | int] = [self._status_ttl_s]
        arguments.extend(orjson.dumps(body) for _, _, body in states)
        try:
            await self._evaluate(self._put_many, keys, arguments)
        except RedisError as error:
            raise CacheUnavailable("the status cache is unavailable") from error


async def within_deadline(deadline_s: float, work: Awaitable[Result]) -> Result:
    """`work` (Redis commands of one request), bounded by the request's deadline on the event
    loop's clock: past it, CacheUnavailable. One deadline for all of a request's Redis work,
    however long it queued behind others' commands."""
    try:
        async with asyncio.timeout_at(deadline_s):
            return await work
    except TimeoutError:
        raise _late() from None


def _holder(raw: bytes) -> Holder:
    holder = orjson.loads(raw)
    return Holder(holder["id"], bytes.fromhex(holder["digest"]), holder.get("confirmed", True))


def create_client(url: str, *, connections_max: int, timeout_s: float) -> redis.Redis:
    """A Redis client with short timeouts: a slow cache must not hold up the money path. At
    most `connections_max` connections; a command waits (up to the same timeout) for a free
    one rather than failing when more are in flight."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=connections_max,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    return redis.Redis.from_pool(pool)  # closing the client closes the pool
