"""A transaction Redis knows as Pending is answered Pending while PostgreSQL is unreachable
(the gateway reaches it through a TCP proxy that the test cuts), and one neither knows is a
503; the services themselves are real."""

from __future__ import annotations

import aiohttp
import redis.asyncio as redis

from gateway.app import create_app
from shared.ids import new_id
from shared.redis.status_cache import StatusCache
from shared.settings import Settings
from tests.proxy import POSTGRESQL_PORT, proxy_to, through
from tests.support import Api, create_tenant_key, new_ledger, serving


async def test_a_pending_transaction_reads_from_redis_while_postgresql_is_away(
    migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    async with (
        proxy_to(POSTGRESQL_PORT) as proxy,
        serving(create_app(through(migrated, proxy))) as base_url,
    ):
        api = Api(http_session, base_url, await create_tenant_key(migrated))
        ledger = await new_ledger(api)
        transaction_id = new_id()
        pending = {
            "id": transaction_id,
            "referenceId": "queued",
            "status": "Pending",
            "operations": [{"type": "Issue", "to": new_id(), "amount": "5"}],
            "createdAt": "2026-12-06T12:00:00.000Z",
        }
        client = redis.Redis.from_url(migrated.redis_url.get_secret_value())
        cache = StatusCache(client, reference_ttl_s=60, status_ttl_s=60)
        try:
            assert (
                await cache.reserve(ledger.project_id, "queued", transaction_id, b"\0", pending)
                is None
            )
        finally:
            await cache.close()
        base = f"/projects/{ledger.project_id}/transactions"
        await proxy.cut()
        read = await api.get(f"{base}/{transaction_id}")
        # A state cached without metadata (before metadata existed) shows none.
        assert (read.status, read.body) == (200, {**pending, "metadata": {}})
        unknown = await api.get(f"{base}/{new_id()}")
        assert unknown.status == 503, unknown.body
        assert int(unknown.headers["Retry-After"]) >= 1
