"""Authentication and tenancy: an API key (or an OAuth2 access token) names a tenant and a
scope, and a tenant sees only its projects.

Keys are `cw.<key id>.<secret>`; only a SHA-256 digest of the secret is stored, and the
presented secret's digest is compared in constant time.

Look-ups are cached so that the submit path makes no database query: a key for
`auth_cache_ttl_s`, a project's owner for `auth_project_cache_ttl_s`, and a key id PostgreSQL
does not know for `auth_unknown_key_ttl_s` (so asking again costs no query). An entry past its
TTL is looked up again in the background (one look-up per entry at a time) while requests go
on using it; while PostgreSQL cannot answer, an entry looked up less than
`auth_cache_stale_max_s` ago is used, and looked up again every `auth_cache_refresh_retry_ms`.
So neither an outage nor a stall of the database reaches the keys and projects in use.

A key revoked by `DELETE /keys/{keyId}` or `cloudwallet keys revoke` is forgotten by every
gateway when the revocation's notice arrives through Redis (`forget_key`), and is never served
from the cache again; a gateway that may have missed notices forgets every key
(`forget_all_keys`). Without Redis, a revoked key keeps working until its entry is looked up
again (`auth_cache_ttl_s`). An expired key fails from its `expires_at` on, checked on every
request. An OAuth2 access token (gateway/oauth.py) names its client, looked up like any key.

Failed authentication is limited per client address (gateway/auth_limits.py). A limited
address is answered 429 without a database query: keys the gateway has looked up within
`auth_cache_stale_max_s` keep working from it, any other key waits for the address to regain
an attempt (Retry-After)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from aiohttp import web

from gateway.auth_limits import FailureLimiter
from gateway.db import Database
from shared.access import keystore
from shared.access.keystore import Scope, StoredKey
from shared.errors import ApiError, DatabaseUnavailable, NotFound, TooManyRequests, Unauthorized
from shared.ids import split_api_key
from shared.settings import Settings

log = logging.getLogger(__name__)
Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")
KEY_ID_LENGTH = 26  # key ids are ULIDs (shared.ids.new_api_key): others are not looked up
KEY_ID = web.RequestKey("key_id", str)  # the presented key's id, once parsed
TOKEN_PREFIX = "eyJ"  # a JWT: the base64url of its header's opening '{"'


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key (or the OAuth2 client whose token it is) and the scope it acts
    with (a token's scope may be narrower than its client's)."""

    key: StoredKey
    scope: Scope

    @property
    def tenant_id(self) -> str:
        return self.key.tenant_id


class TtlCache(Generic[Key, Value]):
    """A small bounded map of looked-up values: fresh for `ttl_s`, and usable while they cannot
    be looked up again until `stale_max_s` old. When it is full, the entry looked up longest
    ago goes. A TTL of 0 caches nothing."""

    def __init__(
        self,
        ttl_s: float,
        entries_max: int,
        stale_max_s: float = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._stale_max_s = max(stale_max_s, ttl_s)
        self._entries_max = entries_max
        self._clock = clock
        self._entries: dict[Key, tuple[float, Value]] = {}  # key -> (looked up at, value)

    def get(self, key: Key) -> Value | None:
        """The value, if looked up less than `ttl_s` ago."""
        found = self._entries.get(key)
        if found is None or self._clock() - found[0] >= self._ttl_s:
            return None
        return found[1]

    def get_stale(self, key: Key) -> Value | None:
        """The value, if looked up less than `stale_max_s` ago."""
        found = self._entries.get(key)
        if found is None:
            return None
        if self._clock() - found[0] >= self._stale_max_s:
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: Key, value: Value) -> None:
        if self._ttl_s <= 0:
            return
        self._entries.pop(key, None)
        if len(self._entries) >= self._entries_max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._clock(), value)

    def discard(self, key: Key) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class Authenticator:
    """Who is calling, and may they see this project."""

    def __init__(
        self, database: Database, settings: Settings, tokens: TokenVerifier | None = None
    ) -> None:
        self._database = database
        self._tokens = tokens
        # Keys revoked while this gateway ran, newest last: never served from the cache again.
        self._revoked: dict[str, None] = {}
        self._revoked_max = settings.auth_revoked_keys_max
        entries_max, stale_max_s = settings.auth_cache_entries_max, settings.auth_cache_stale_max_s
        self._keys: TtlCache[str, StoredKey] = TtlCache(
            settings.auth_cache_ttl_s, entries_max, stale_max_s
        )
        self._projects: TtlCache[tuple[str, str], bool] = TtlCache(
            settings.auth_project_cache_ttl_s, entries_max, stale_max_s
        )
        self._unknown_keys: TtlCache[str, bool] = TtlCache(
            settings.auth_unknown_key_ttl_s, settings.auth_unknown_key_entries_max
        )
        self._failures = FailureLimiter(settings)
        self._stale_max_s = stale_max_s
        self._refresh_retry_s = settings.auth_cache_refresh_retry_ms / 1000
        self._refresh_after_s = 0.0  # no entry is looked up again before (after one failed)
        self._refreshing: dict[Hashable, asyncio.Task[None]] = {}  # looked up again right now
        self._serving_stale = False

    async def close(self) -> None:
        """Stop looking entries up again (before the database's pool closes)."""
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def principal_of(self, request: web.Request) -> Principal:
        """The key (or OAuth2 token) the request presents, and its scope; 401 without a valid,
        unexpired, unrevoked one, 429 for an address with too many failed attempts. An OAuth2
        client's own secret is not a key: it only buys tokens (POST /oauth/token)."""
        address = request.remote or ""
        refusal = self._failures.refusal(address)
        presented = _presented_key(request)
        if presented and presented.startswith(TOKEN_PREFIX) and self._tokens is not None:
            claims = await self._tokens.verify(presented)
            if claims is None:
                raise self._failed(address, refusal)
            key_id, scope = claims
            request[KEY_ID] = key_id  # the access log names the token's client
            stored = await self.key(key_id, address, refusal)
            if stored is None or not stored.oauth_client or _expired(stored):
                raise self._failed(address, refusal)
            return Principal(stored, scope)
        parsed = split_api_key(presented) if presented else None
        if parsed is None:
            raise self._failed(address, refusal)
        key_id, digest = parsed
        request[KEY_ID] = key_id  # the access log names the key (never its secret)
        stored = await self.key(key_id, address, refusal)
        if (
            stored is None
            or not hmac.compare_digest(stored.secret_digest, digest)
            or stored.oauth_client
            or _expired(stored)
        ):
            raise self._failed(address, refusal)
        return Principal(stored, stored.scope)

    async def key(
        self, key_id: str, address: str, refusal: TooManyRequests | None
    ) -> StoredKey | None:
        """The key, unless it is unknown or revoked. A limited address never makes the gateway
        ask the database: it gets `refusal` unless the key is in the cache."""
        if key_id in self._revoked:
            return None
        if refusal is not None and self._keys.get_stale(key_id) is None:
            raise refusal
        stored = self._keys.get(key_id) or await self._stored_key(key_id)
        if key_id in self._revoked:  # revoked while it was being looked up
            return None
        return stored

    def remember(self, stored: StoredKey) -> None:
        """A key this gateway has just made: cached at once, so that it works at once even from
        an address that failed authentication too often."""
        self._keys.put(stored.id, stored)
        self._unknown_keys.discard(stored.id)

    def forget_key(self, key_id: str) -> None:
        """The key was revoked (a notice from Redis, or this gateway's own DELETE): it answers
        401 from now on, whatever the cache or a look-up in flight holds."""
        self._keys.discard(key_id)
        self._revoked[key_id] = None
        if len(self._revoked) > self._revoked_max:
            del self._revoked[next(iter(self._revoked))]

    def forget_all_keys(self) -> None:
        """Revocations may have been missed (the notices' subscription was down): every key is
        looked up again on its next use."""
        self._keys.clear()

    def failed(self, request: web.Request) -> ApiError:
        """Count a failed authentication of the request's address (the token endpoint's)."""
        address = request.remote or ""
        return self._failed(address, self._failures.refusal(address))

    def refusal(self, request: web.Request) -> TooManyRequests | None:
        """The 429 for the request's address while it has no failed attempt left."""
        return self._failures.refusal(request.remote or "")

    @staticmethod
    def expired(stored: StoredKey) -> bool:
        return _expired(stored)

    async def check_project(self, tenant_id: str, project_id: str) -> None:
        """404 ProjectNotFound unless the project exists and belongs to the tenant: another
        tenant's project answers exactly like a missing one."""
        key = (tenant_id, project_id)
        if (
            self._projects.get(key) is None
            and await self._cached(self._projects, key, self._owns) is None
        ):
            raise NotFound(f"project {project_id} not found", code="ProjectNotFound")

    def _failed(self, address: str, refusal: TooManyRequests | None) -> ApiError:
        """A limited address's failure is not counted: it has none left, and counting it would
        only take back what it regains meanwhile."""
        if refusal is not None:
            return refusal
        self._failures.record(address)
        return Unauthorized("a valid API key is required")

    async def _stored_key(self, key_id: str) -> StoredKey | None:
        if len(key_id) != KEY_ID_LENGTH or self._unknown_keys.get(key_id) is not None:
            return None
        stored = await self._cached(self._keys, key_id, self._key)
        if stored is None:
            self._unknown_keys.put(key_id, True)
        return stored

    async def _key(self, key_id: str) -> StoredKey | None:
        return await keystore.look_up(self._database, key_id)

    async def _owns(self, tenant_and_project: tuple[str, str]) -> bool | None:
        tenant_id, project_id = tenant_and_project
        found = await self._database.fetchval(
            "SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2", project_id, tenant_id
        )
        return None if found is None else True

    async def _cached(
        self,
        cache: TtlCache[Key, Value],
        key: Key,
        look_up: Callable[[Key], Awaitable[Value | None]],
    ) -> Value | None:
        """The cached value (None: there is none), looked up if it is not in the cache. One
        past its TTL is used as it is while it is looked up again in the background, so that
        no request waits for a database that may have stalled."""
        fresh = cache.get(key)
        if fresh is not None:
            return fresh
        stale = cache.get_stale(key)
        if stale is None:
            return await self._look_up(cache, key, look_up)
        if key not in self._refreshing and time.monotonic() >= self._refresh_after_s:
            task = asyncio.create_task(self._refresh(cache, key, look_up))
            self._refreshing[key] = task
            task.add_done_callback(lambda _: self._refreshing.pop(key, None))
        return stale

    async def _look_up(
        self,
        cache: TtlCache[Key, Value],
        key: Key,
        look_up: Callable[[Key], Awaitable[Value | None]],
    ) -> Value | None:
        found = await look_up(key)
        self._note_recovery()
        if found is None:
            cache.discard(key)
        else:
            cache.put(key, found)
        return found

    async def _refresh(
        self,
        cache: TtlCache[Key, Value],
        key: Key,
        look_up: Callable[[Key], Awaitable[Value | None]],
    ) -> None:
        try:
            await self._look_up(cache, key, look_up)
        except DatabaseUnavailable as error:
            self._refresh_after_s = time.monotonic() + self._refresh_retry_s
            self._note_outage(error)

    def _note_outage(self, error: DatabaseUnavailable) -> None:
        if not self._serving_stale:
            self._serving_stale = True
            log.warning(
                "%s: keys and projects looked up in the last %s s are served from the cache",
                error.message,
                self._stale_max_s,
            )

    def _note_recovery(self) -> None:
        if self._serving_stale:
            self._serving_stale = False
            log.info("the database answers again: keys and projects are looked up again")


class TokenVerifier(Protocol):
    """What authentication needs of OAuth2 access tokens (gateway/oauth.py)."""

    async def verify(self, token: str) -> tuple[str, Scope] | None:
        """The client's key id and the token's scope, or None for a token that is not valid."""
        ...


def _expired(stored: StoredKey) -> bool:
    return stored.expires_at is not None and stored.expires_at <= datetime.now(UTC)


def _presented_key(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.headers.get("X-Api-Key")
