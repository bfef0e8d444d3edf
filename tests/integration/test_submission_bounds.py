"""How long a submission can wait, bounded: a stalled Redis answers every submission of a backlog
503 within `redis_timeout_ms` (one deadline per request, however many wait), and once the oldest
submission in progress has waited `submission_wait_max_ms` (here: the broker stalls its confirm)
new ones are refused at once with 429 and Retry-After. A gateway of the test process reaches
the stalled service through a TCP proxy that holds the bytes; the services themselves are real."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.app import create_app
from shared.ids import new_id
from shared.settings import Settings
from tests.proxy import RABBITMQ_PORT, REDIS_PORT, TcpProxy, proxy_to, through
from tests.support import Api, Ledger, create_tenant_key, issue, new_ledger, serving

BACKLOG_SUBMISSIONS = 600  # more than two commands' worth of reservations (256 each)
DEADLINE_MARGIN_S = 1.0
WAIT_MAX_MS = 300
REFUSAL_LATENCY_MAX_S = 0.25


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client with no cap on its connections, so that the whole backlog reaches the gateway."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        yield client


@contextlib.asynccontextmanager
async def proxied_gateway(
    settings: Settings, session: aiohttp.ClientSession, port: int, **overrides: Any
) -> AsyncIterator[tuple[Ledger, TcpProxy]]:
    """A gateway of this process that reaches the service on `port` through a proxy of its own,
    and a new ledger on it."""
    async with (
        proxy_to(port) as proxy,
        serving(create_app(through(settings, proxy, **overrides))) as base_url,
    ):
        api = Api(session, base_url, await create_tenant_key(settings))
        yield await new_ledger(api), proxy


async def open_connections(api: Api, count: int) -> None:
    """Open `count` keep-alive connections first, so that the time measured is the gateway's
    and not the kernel's (a burst of new connections overflows the listen backlog, and their
    SYNs are retried a second or more later)."""
    replies = await asyncio.gather(*(api.get("/health") for _ in range(count)))
    assert {reply.status for reply in replies} == {200}


async def timed_post(api: Api, path: str, body: object) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await api.post(path, body)
    if reply.status in (429, 503):
        assert int(reply.headers["Retry-After"]) >= 1, reply.headers
    return reply.status, loop.time() - started


async def test_a_stalled_redis_answers_a_backlog_within_the_redis_deadline(
    migrated: Settings, session: aiohttp.ClientSession, api: Api
) -> None:
    async with proxied_gateway(migrated, session, REDIS_PORT) as (ledger, proxy):
        wallet = await ledger.system_wallet()
        path = f"/projects/{ledger.project_id}/transactions"
        await ledger.api.run(ledger.project_id, [issue(wallet, 1)], "warm-up")
        await open_connections(ledger.api, BACKLOG_SUBMISSIONS)
        proxy.pause()
        answers = await asyncio.gather(
            *(
                timed_post(
                    ledger.api,
                    path,
                    {"referenceId": f"stalled-{new_id()}", "operations": [issue(wallet, 1)]},
                )
                for _ in range(BACKLOG_SUBMISSIONS)
            )
        )
        proxy.resume()
        statuses = {status for status, _ in answers}
        slowest_s = max(seconds for _, seconds in answers)
        assert statuses <= {503, 429}, statuses
        assert slowest_s <= migrated.redis_timeout_ms / 1000 + DEADLINE_MARGIN_S, slowest_s
        after = await ledger.api.run(ledger.project_id, [issue(wallet, 1)], "after-stall")
        assert after["status"] == "Completed"


async def test_submissions_are_refused_once_the_oldest_waited_too_long(
    migrated: Settings, session: aiohttp.ClientSession, api: Api
) -> None:
    async with proxied_gateway(
        migrated, session, RABBITMQ_PORT, submission_wait_max_ms=WAIT_MAX_MS
    ) as (ledger, proxy):
        wallet = await ledger.system_wallet()
        path = f"/projects/{ledger.project_id}/transactions"
        proxy.pause()  # the broker's confirms stop coming
        first = asyncio.create_task(
            timed_post(ledger.api, path, {"referenceId": "first", "operations": [issue(wallet, 1)]})
        )
        await asyncio.sleep(WAIT_MAX_MS / 1000 + 0.2)
        refused = await asyncio.gather(
            *(
                timed_post(
                    ledger.api,
                    path,
                    {"referenceId": f"later-{n}", "operations": [issue(wallet, 1)]},
                )
                for n in range(20)
            )
        )
        proxy.resume()
        assert {status for status, _ in refused} == {429}, refused
        assert max(seconds for _, seconds in refused) <= REFUSAL_LATENCY_MAX_S, refused
        status, _ = await first
        assert status in (202, 503)
        # Once the backlog is gone, submissions are admitted again.
        done = await ledger.api.run(ledger.project_id, [issue(wallet, 1)], "admitted")
        assert done["status"] == "Completed"
