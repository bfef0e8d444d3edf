"""API keys in PostgreSQL: made, listed, revoked and looked up in one place, for the gateway's
key routes, `cloudwallet keys` and the tests alike. Only a SHA-256 digest of a key's secret is
stored; the whole key (`cw.<key id>.<secret>`) is returned once, by `create_key`.

A revoked key keeps its row (`revoked_at` set), so its id is never reused; `look_up` does not
find it, nor a key past its `expires_at` (the gateway also checks expiry on every request)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared.ids import new_api_key, secret_digest


class Queries(Protocol):
    """Where the statements run: an asyncpg connection, or the gateway's `Database`."""

    async def fetch(self, query: str, *arguments: Any) -> Any: ...

    async def fetchrow(self, query: str, *arguments: Any) -> Any: ...

    async def fetchval(self, query: str, *arguments: Any) -> Any: ...


class Scope(StrEnum):
    """What a key may do: everything its tenant may (`full`), only read (`read`), or read one
    customer's own resources (`customer`, with a project and a customer)."""

    FULL = "full"
    READ = "read"
    CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What a new key is: the request of `POST /keys` or `cloudwallet keys create`."""

    name: str = ""
    scope: Scope = Scope.FULL
    project_id: str | None = None
    customer_id: str | None = None
    expires_at: datetime | None = None
    oauth_client: bool = False
    rate_limit_per_s: int | None = None
    rate_limit_burst: int | None = None


DEFAULT_SPEC = KeySpec()  # a full key without a name, expiry or limits of its own


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as stored, without its secret: what listing shows and authentication checks."""

    id: str
    tenant_id: str
    secret_digest: bytes
    name: str
    scope: Scope
    project_id: str | None
    customer_id: str | None
    expires_at: datetime | None
    oauth_client: bool
    rate_limit_per_s: int | None
    rate_limit_burst: int | None
    created_at: datetime

    def expired(self, now: datetime) -> bool:
        """Whether the key has expired at `now` (an aware UTC datetime)."""
        return self.expires_at is not None and self.expires_at <= now


COLUMNS = (
    "id, tenant_id, secret_digest, name, scope, project_id, customer_id, expires_at,"
    " oauth_client, rate_limit_per_s, rate_limit_burst, created_at"
)
INSERT_KEY = f"""
INSERT INTO api_keys (id, tenant_id, secret_digest, name, scope, project_id, customer_id,
                      expires_at, oauth_client, rate_limit_per_s, rate_limit_burst)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING {COLUMNS}
"""
SELECT_KEY = f"SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND revoked_at IS NULL"
LIST_KEYS = f"""
SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL
ORDER BY id LIMIT $2 OFFSET $3
"""
REVOKE_KEY = """
UPDATE api_keys SET revoked_at = now()
WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL RETURNING id
"""
REVOKE_ANY_KEY = (
    "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id"
)


def stored_key(row: Any) -> StoredKey:
    """A row of `api_keys` (the COLUMNS above) as a StoredKey."""
    return StoredKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        secret_digest=bytes(row["secret_digest"]),
        name=row["name"],
        scope=Scope(row["scope"]),
        project_id=row["project_id"],
        customer_id=row["customer_id"],
        expires_at=row["expires_at"],
        oauth_client=row["oauth_client"],
        rate_limit_per_s=row["rate_limit_per_s"],
        rate_limit_burst=row["rate_limit_burst"],
        created_at=row["created_at"],
    )


async def create_key(
    connection: Queries, tenant_id: str, spec: KeySpec = DEFAULT_SPEC
) -> tuple[StoredKey, str]:
    """A new key of the tenant: (the key as stored, the whole key to show once)."""
    key_id, api_key = new_api_key()
    row = await connection.fetchrow(
        INSERT_KEY,
        key_id,
        tenant_id,
        secret_digest(api_key.split(".")[2]),
        spec.name,
        spec.scope.value,
        spec.project_id,
        spec.customer_id,
        spec.expires_at,
        spec.oauth_client,
        spec.rate_limit_per_s,
        spec.rate_limit_burst,
    )
    return stored_key(row), api_key


async def list_keys(
    connection: Queries, tenant_id: str, limit: int, offset: int = 0
) -> list[StoredKey]:
    """The tenant's keys that are not revoked, in id (creation) order."""
    rows = await connection.fetch(LIST_KEYS, tenant_id, limit, offset)
    return [stored_key(row) for row in rows]


async def revoke_key(connection: Queries, key_id: str, tenant_id: str | None) -> bool:
    """Revoke the key (of the tenant, when one is named); False if there was none to revoke."""
    if tenant_id is None:
        return await connection.fetchval(REVOKE_ANY_KEY, key_id) is not None
    return await connection.fetchval(REVOKE_KEY, key_id, tenant_id) is not None


async def look_up(connection: Queries, key_id: str) -> StoredKey | None:
    """The key that is not revoked, or None."""
    row = await connection.fetchrow(SELECT_KEY, key_id)
    return None if row is None else stored_key(row)
