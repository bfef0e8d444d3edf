"""Rate limits per key (design section 10): a key's token bucket, in Redis and so shared by
every gateway, answers 429 RateLimited with Retry-After once its burst is spent and regains
requests at its rate; every answer to an authenticated request carries the RateLimit headers;
a key without limits of its own has the deployment's; one key at its limit leaves other keys
alone (its effect on another tenant's latency: tests/e2e/test_noisy_neighbour.py)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from gateway.app import create_app
from shared.settings import Settings
from tests.support import Api, create_tenant_key, serving


async def limited_key(api: Api, rate_per_s: int, burst: int) -> Api:
    key = await api.created(
        "/keys",
        {"name": "limited", "scope": "full", "rateLimitPerS": rate_per_s, "rateLimitBurst": burst},
    )
    return Api(api.session, api.base_url, key["secret"])


async def test_a_burst_past_the_limit_answers_429_with_retry_after_and_the_headers(
    api: Api,
) -> None:
    limited = await limited_key(api, rate_per_s=2, burst=5)
    remaining = []
    for _ in range(5):
        reply = await limited.get("/projects")
        assert reply.status == 200
        assert reply.headers["RateLimit-Limit"] == "5"
        remaining.append(int(reply.headers["RateLimit-Remaining"]))
        assert int(reply.headers["RateLimit-Reset"]) >= 1
    assert remaining == [4, 3, 2, 1, 0]
    refused = await limited.get("/projects")
    assert (refused.status, refused.body["error"]["code"]) == (429, "RateLimited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= 1
    # Errors carry the headers too, and a refused write stores nothing (it is never read).
    assert (await limited.post("/projects", {"name": "p"})).status == 429
    assert (await api.get("/projects")).status == 200  # another key is not limited
    await asyncio.sleep(0.6)  # 2 a second: one request regained
    assert (await limited.get("/projects")).status == 200
    assert (await limited.get("/projects")).status == 429


async def test_the_bucket_is_shared_by_every_gateway(
    api: Api, http_session: aiohttp.ClientSession, migrated: Settings
) -> None:
    limited = await limited_key(api, rate_per_s=1, burst=4)
    async with serving(create_app(migrated)) as other_url:
        elsewhere = Api(http_session, other_url, limited.api_key)
        statuses = []
        for index in range(6):
            client = limited if index % 2 else elsewhere
            statuses.append((await client.get("/projects")).status)
    assert statuses == [200, 200, 200, 200, 429, 429]


async def test_keys_without_limits_of_their_own_have_the_deployments(
    http_session: aiohttp.ClientSession, migrated: Settings
) -> None:
    settings = migrated.model_copy(update={"rate_limit_per_s": 1, "rate_limit_burst": 3})
    async with serving(create_app(settings)) as url:
        api = Api(http_session, url, await create_tenant_key(migrated))
        statuses = [(await api.get("/projects")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


async def test_unauthenticated_answers_carry_no_rate_limit_headers(api: Api) -> None:
    reply = await Api(api.session, api.base_url, "cw.nope.nope").get("/projects")
    assert reply.status == 401 and "RateLimit-Limit" not in reply.headers


async def test_a_concurrent_burst_gets_exactly_the_bucket(api: Api) -> None:
    """Concurrent requests share one Redis command; each still takes its own request."""
    limited = await limited_key(api, rate_per_s=1, burst=5)
    replies = await asyncio.gather(*(limited.get("/projects") for _ in range(12)))
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200] * 5 + [429] * 7
    remaining = sorted(int(reply.headers["RateLimit-Remaining"]) for reply in replies)
    assert remaining == [0] * 8 + [1, 2, 3, 4]


async def test_leases_keep_a_busy_key_within_its_limit(
    api: Api, http_session: aiohttp.ClientSession, migrated: Settings
) -> None:
    """A key with a large burst is taken from in leases (2 requests here): two gateways
    together still grant no more than the bucket held and regained, and lose at most a lease
    each."""
    rate_per_s, burst = 20, 200
    limited = await limited_key(api, rate_per_s=rate_per_s, burst=burst)
    async with serving(create_app(migrated)) as other_url:
        elsewhere = Api(http_session, other_url, limited.api_key)
        started = time.monotonic()
        statuses = [
            (await (limited if index % 3 else elsewhere).get("/projects")).status
            for index in range(300)
        ]
        elapsed_s = time.monotonic() - started
    granted = statuses.count(200)
    assert burst - 2 * 2 <= granted <= burst + rate_per_s * elapsed_s + 1, (granted, elapsed_s)
    assert statuses.count(429) == len(statuses) - granted
