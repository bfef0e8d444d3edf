"""API keys, made one way: a tenant, found or created by its name, and a key whose secret is
stored only as a digest and shown once. `cloudwallet keys create`, the tests and the benchmark
all call `create_tenant_key` or `create_key`."""

from __future__ import annotations

from shared.database import Connection
from shared.ids import new_api_key, new_id, secret_digest

UPSERT_TENANT = """
INSERT INTO tenants (id, name) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
"""
INSERT_KEY = "INSERT INTO api_keys (id, tenant_id, secret_digest) VALUES ($1, $2, $3)"


async def create_key(connection: Connection, tenant_id: str) -> str:
    """A new API key of the tenant; the whole key, to be shown once (only its digest is kept)."""
    key_id, api_key = new_api_key()
    await connection.execute(INSERT_KEY, key_id, tenant_id, secret_digest(api_key.split(".")[2]))
    return api_key


async def create_tenant_key(connection: Connection, tenant_name: str) -> tuple[str, str]:
    """The tenant named `tenant_name` (created if new) and a new API key of it, in one
    transaction: (tenant id, key)."""
    async with connection.transaction():
        tenant_id = str(await connection.fetchval(UPSERT_TENANT, new_id(), tenant_name))
        return tenant_id, await create_key(connection, tenant_id)
