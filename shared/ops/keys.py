"""API keys for operators: a tenant, found or created by its name, and a key whose secret is
stored only as a digest and shown once. `cloudwallet keys create`, the tests and the benchmark
all call `create_tenant_key` or `create_key`; the store itself is `shared.access.keystore`."""

from __future__ import annotations

from shared.access import keystore
from shared.access.keystore import DEFAULT_SPEC, KeySpec
from shared.database import Connection
from shared.ids import new_id

UPSERT_TENANT = """
INSERT INTO tenants (id, name) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
"""
TENANT_BY_NAME = "SELECT id FROM tenants WHERE name = $1"


async def create_key(connection: Connection, tenant_id: str, spec: KeySpec = DEFAULT_SPEC) -> str:
    """A new API key of the tenant; the whole key, to be shown once (only its digest is kept)."""
    _, api_key = await keystore.create_key(connection, tenant_id, spec)
    return api_key


async def create_tenant_key(
    connection: Connection, tenant_name: str, spec: KeySpec = DEFAULT_SPEC
) -> tuple[str, str]:
    """The tenant named `tenant_name` (created if new) and a new API key of it, in one
    transaction: (tenant id, key)."""
    async with connection.transaction():
        tenant_id = str(await connection.fetchval(UPSERT_TENANT, new_id(), tenant_name))
        return tenant_id, await create_key(connection, tenant_id, spec)


async def tenant_id_of(connection: Connection, tenant_name: str) -> str | None:
    """The id of the tenant named `tenant_name`, or None if there is none."""
    found = await connection.fetchval(TENANT_BY_NAME, tenant_name)
    return None if found is None else str(found)
