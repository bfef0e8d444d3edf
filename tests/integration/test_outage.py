"""A gateway whose PostgreSQL goes away (a TCP proxy in between is cut) answers 503
ServiceUnavailable with Retry-After on every route that needs it, never a 500, and serves
again once the database is back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from gateway.app import create_app
from shared.settings import Settings
from tests.proxy import POSTGRESQL_PORT, TcpProxy, proxy_to, through
from tests.support import Api, create_tenant_key, new_ledger


@pytest.fixture
async def proxied(migrated: Settings) -> AsyncIterator[tuple[str, TcpProxy]]:
    runner: web.AppRunner | None = None
    try:
        async with proxy_to(POSTGRESQL_PORT) as proxy:
            runner = web.AppRunner(create_app(through(migrated, proxy)), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}", proxy
    finally:
        if runner is not None:
            await runner.cleanup()


async def test_database_outage_is_503_then_recovers(
    proxied: tuple[str, TcpProxy], http_session: aiohttp.ClientSession, migrated: Settings
) -> None:
    url, proxy = proxied
    api = Api(http_session, url, await create_tenant_key(migrated))
    ledger = await new_ledger(api)
    base = f"/projects/{ledger.project_id}"
    await proxy.cut()
    for method, path, body in (
        ("GET", base, None),
        ("GET", f"{base}/assets/{ledger.asset_id}", None),
        ("POST", f"{base}/customers", {"id": "c"}),
        ("PUT", f"{base}/wallets/w/status", {"status": "Closed"}),
        ("GET", f"{base}/transactions", None),
        ("POST", "/projects", {"name": "p"}),
    ):
        reply = await api.call(method, path, body)
        assert reply.status == 503, (method, path, reply.body)
        assert reply.body["error"]["code"] == "ServiceUnavailable"
        assert int(reply.headers["Retry-After"]) >= 1
    await proxy.restore()
    for _ in range(3):  # the pool may hand out a connection it has not yet seen die
        if (await api.get(base)).status == 200:
            break
    assert (await api.get(base)).status == 200
