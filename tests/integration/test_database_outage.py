"""A stalled PostgreSQL does not hold a reader (issue 21, defect 7). A gateway in this process
reaches PostgreSQL through a TCP proxy (tests/faults/proxy.py) that a test stalls: reads answer
503 with Retry-After within `database_query_timeout_ms`, and answer again once it flows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from pydantic import SecretStr

from gateway.app import create_app
from shared.settings import Settings
from tests.faults.proxy import TcpProxy, via
from tests.support import Api, Reply, new_ledger, serving

QUERY_TIMEOUT_MS = 1000
ANSWER_MARGIN_S = 1.0  # what a 503 may take beyond the query timeout


@contextlib.asynccontextmanager
async def gateway_behind_proxy(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[str, TcpProxy]]:
    """A gateway of this process whose PostgreSQL is reached through a proxy of its own."""
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    database_url = SecretStr(via(settings.database_url.get_secret_value(), 5432, proxy))
    proxied = settings.model_copy(update={"database_url": database_url, **overrides})
    try:
        async with serving(create_app(proxied)) as url:
            try:
                yield url, proxy
            finally:
                proxy.resume()  # so that the pool closes without waiting on a stalled network
    finally:
        await proxy.close()


async def test_reads_answer_503_within_the_query_timeout_while_postgresql_stalls(
    api: Api, migrated: Settings
) -> None:
    ledger = await new_ledger(api)
    wallet = await ledger.system_wallet()
    base = f"/projects/{ledger.project_id}"
    reads = [f"{base}/wallets/{wallet}", f"{base}/transactions", f"{base}/wallets/{wallet}/entries"]
    timeout = {"database_query_timeout_ms": QUERY_TIMEOUT_MS}
    async with gateway_behind_proxy(migrated, **timeout) as (url, proxy):
        stalled = Api(api.session, url, api.api_key)
        for path in reads:
            assert (await stalled.get(path)).status == 200, path
        proxy.pause()
        # More reads than the pool has idle connections: some stall on a statement already
        # sent, the others on opening a connection.
        answers = await asyncio.gather(*(timed_get(stalled, path) for path in reads * 4))
        for reply, elapsed_s in answers:
            assert reply.status == 503, reply
            assert reply.body["error"]["code"] == "ServiceUnavailable"
            assert int(reply.headers["Retry-After"]) >= 1
            assert elapsed_s < QUERY_TIMEOUT_MS / 1000 + ANSWER_MARGIN_S, elapsed_s
        proxy.resume()
        # The stalled connections were closed rather than handed out again: reads answer at once.
        for path in reads:
            assert (await stalled.get(path)).status == 200, path


async def timed_get(api: Api, path: str) -> tuple[Reply, float]:
    """The reply and how long it took; a read that hangs fails the test at the limit."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    limit_s = QUERY_TIMEOUT_MS / 1000 + ANSWER_MARGIN_S
    try:
        reply = await asyncio.wait_for(api.get(path), timeout=limit_s)
    except (TimeoutError, aiohttp.ClientError) as error:
        raise AssertionError(f"GET {path} got no answer within {limit_s} s") from error
    return reply, loop.time() - started
