"""Authentication and tenancy: an API key names a tenant, and a tenant sees only its projects.

Keys are `cw.<key id>.<secret>`; only a SHA-256 digest of the secret is stored, and the
presented secret's digest is compared in constant time. Successful look-ups are cached for a
few seconds so that the submit path makes no database query."""

from __future__ import annotations

import hmac
import time
from typing import Generic, TypeVar

from aiohttp import web

from gateway.db import Database
from shared.errors import NotFound, Unauthorized
from shared.ids import split_api_key

Key = TypeVar("Key")
Value = TypeVar("Value")


class TtlCache(Generic[Key, Value]):
    """A small bounded map whose entries expire; the oldest entry goes when it is full."""

    def __init__(self, ttl_s: float, entries_max: int) -> None:
        self._ttl_s = ttl_s
        self._entries_max = entries_max
        self._entries: dict[Key, tuple[float, Value]] = {}

    def get(self, key: Key) -> Value | None:
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: Key, value: Value) -> None:
        if self._ttl_s <= 0:
            return
        if len(self._entries) >= self._entries_max:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (time.monotonic() + self._ttl_s, value)


class Authenticator:
    """Who is calling, and may they see this project."""

    def __init__(self, database: Database, *, ttl_s: float, entries_max: int) -> None:
        self._database = database
        self._keys: TtlCache[str, tuple[str, bytes]] = TtlCache(ttl_s, entries_max)
        self._projects: TtlCache[tuple[str, str], bool] = TtlCache(ttl_s * 10, entries_max)

    async def tenant_of(self, request: web.Request) -> str:
        """The tenant the request's key belongs to; 401 without a valid key."""
        presented = _presented_key(request)
        parsed = split_api_key(presented) if presented else None
        if parsed is None:
            raise Unauthorized("a valid API key is required")
        key_id, digest = parsed
        cached = self._keys.get(key_id)
        if cached is None:
            row = await self._database.fetchrow(
                "SELECT tenant_id, secret_digest FROM api_keys WHERE id = $1", key_id
            )
            if row is None:
                raise Unauthorized("a valid API key is required")
            cached = (row["tenant_id"], bytes(row["secret_digest"]))
            self._keys.put(key_id, cached)
        tenant_id, stored = cached
        if not hmac.compare_digest(stored, digest):
            raise Unauthorized("a valid API key is required")
        return str(tenant_id)

    async def check_project(self, tenant_id: str, project_id: str) -> None:
        """404 ProjectNotFound unless the project exists and belongs to the tenant: another
        tenant's project answers exactly like a missing one."""
        if self._projects.get((tenant_id, project_id)) is not None:
            return
        found = await self._database.fetchval(
            "SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2", project_id, tenant_id
        )
        if found is None:
            raise NotFound(f"project {project_id} not found", code="ProjectNotFound")
        self._projects.put((tenant_id, project_id), True)


def _presented_key(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.headers.get("X-Api-Key")
