"""A PostgreSQL outage reaches neither the submit path nor a reader's patience (issue 21,
defect 7). A gateway in this process reaches PostgreSQL through a TCP proxy
(tests/proxy.py) that a test cuts or stalls; the session's worker writes with its own
direct connection. With PostgreSQL cut, a cached key and project keep being served past their
TTL, so submissions answer 202 and complete; stalled, reads answer 503 with Retry-After within
`database_query_timeout_ms`; and a key id PostgreSQL does not know costs one query, however
often it is asked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.app import create_app
from shared.ids import new_api_key
from shared.settings import Settings
from tests.proxy import POSTGRESQL_PORT, TcpProxy, proxy_to, through
from tests.support import Api, Reply, new_ledger, serving

QUERY_TIMEOUT_MS = 1000
ANSWER_MARGIN_S = 1.0  # what a 503 may take beyond the query timeout
CACHE_TTL_S = 1
OUTAGE_S = 3 * CACHE_TTL_S  # how long submissions go on while PostgreSQL is cut
RECOVERY_ATTEMPTS_MAX = 3


@contextlib.asynccontextmanager
async def gateway_behind_proxy(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[str, TcpProxy]]:
    """A gateway of this process whose PostgreSQL is reached through a proxy of its own."""
    async with (
        proxy_to(POSTGRESQL_PORT) as proxy,
        serving(create_app(through(settings, proxy, **overrides))) as url,
    ):
        try:
            yield url, proxy
        finally:
            proxy.resume()  # so that the pool closes without waiting on a stalled network


async def test_submissions_outlast_the_auth_cache_while_postgresql_is_cut(
    api: Api, migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = await new_ledger(api)
    treasury = await ledger.system_wallet()
    short_ttls = {"auth_cache_ttl_s": CACHE_TTL_S, "auth_project_cache_ttl_s": CACHE_TTL_S}
    async with gateway_behind_proxy(migrated, **short_ttls) as (url, proxy):
        cut_off = Api(api.session, url, api.api_key)
        assert (await cut_off.get(f"/projects/{ledger.project_id}")).status == 200
        await proxy.cut()
        loop = asyncio.get_running_loop()
        until = loop.time() + OUTAGE_S
        accepted = []
        with caplog.at_level(logging.WARNING, logger="gateway.auth"):
            while loop.time() < until:
                accepted.append(await cut_off.submit(ledger.project_id, [issue(treasury, 10)]))
                await asyncio.sleep(0.2)
        assert (await cut_off.get(f"/projects/{ledger.project_id}")).status == 503
    assert len(accepted) >= OUTAGE_S * 3
    for transaction in accepted:
        final = await api.final(ledger.project_id, transaction["id"])
        assert final["status"] == "Completed", final
    assert await api.balance(ledger.project_id, treasury) == 10 * len(accepted)
    outage_lines = [line for line in caplog.messages if "served from the cache" in line]
    assert len(outage_lines) == 1, caplog.messages


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


async def test_an_unknown_key_id_costs_one_query(api: Api, migrated: Settings) -> None:
    _, unknown_key = new_api_key()
    _, another_unknown_key = new_api_key()
    async with gateway_behind_proxy(migrated) as (url, proxy):
        gateway = Api(api.session, url, api.api_key)
        assert (await gateway.get("/projects")).status == 200
        assert (await as_key(gateway, unknown_key).get("/projects")).status == 401
        await proxy.cut()
        # Asked again, the same key id is refused from memory; a new one needs the database.
        assert (await as_key(gateway, unknown_key).get("/projects")).status == 401
        assert (await as_key(gateway, another_unknown_key).get("/projects")).status == 503
        await proxy.restore()
        for _ in range(RECOVERY_ATTEMPTS_MAX):  # the pool may first hand out a dead connection
            if (await as_key(gateway, another_unknown_key).get("/projects")).status == 401:
                break
        else:
            raise AssertionError("the gateway did not reach PostgreSQL again")


def as_key(api: Api, api_key: str) -> Api:
    return Api(api.session, api.base_url, api_key)


def issue(wallet: str, amount: int) -> dict[str, str]:
    return {"type": "Issue", "to": wallet, "amount": str(amount)}


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
