"""A noisy neighbour (design section 10): one key sending ten times its rate limit, most of it
answered 429, does not raise another tenant's p99 latency by more than 20%, measured against
the gateway running as its own process, on loopback, bounded in requests and time. The noise
comes from a process of its own (tests/e2e/noise.py), as another tenant's client would: sent
from the test's own event loop, its requests delayed the measured ones on the client's side
(36-40% on a loaded machine, which the gateway had no part in). Quiet and noisy rounds
alternate and their medians are compared, so that the shared machine's own noise falls on
both alike: beside two busy loops on the 2-core development machine it measured 7.0 ms quiet
and 7.6 ms beside the noise at worst (decision 0021)."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import aiohttp

from tests.support import Api, new_ledger

ROUNDS = 9
REQUESTS_PER_ROUND = 100
NOISY_RATE_PER_S = 20  # the noisy key's limit; it sends ten times that
NOISY_BURST = 2
NOISY_SENT_PER_S = 10 * NOISY_RATE_PER_S
NOISE_LEAD_S = 0.3  # the noise starts first, to be at its limit when the measure begins
NOISE_STOP_S_MAX = 10


async def p99_ms(api: Api, path: str, requests: int) -> float:
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        reply = await api.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        assert reply.status == 200
    return statistics.quantiles(latencies, n=100)[98]


def start_noise(url: str, api_key: str) -> subprocess.Popen[str]:
    """The noisy key's client, in its own process, once it has had its first answer."""
    noise = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.noise", url, api_key, str(NOISY_SENT_PER_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert noise.stdout is not None
    assert noise.stdout.readline().strip() == "ready"
    return noise


def stop_noise(noise: subprocess.Popen[str]) -> int:
    """Stop the noise; the number of its requests answered 429."""
    try:
        output, _ = noise.communicate(input="", timeout=NOISE_STOP_S_MAX)
    finally:
        if noise.poll() is None:
            noise.kill()
            noise.wait()
    return int(output.strip())


async def test_a_key_at_its_limit_does_not_slow_another_tenant(
    e2e_api: Api, gateway_process_url: str, http_session: aiohttp.ClientSession
) -> None:
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
        noise = start_noise(gateway_process_url + "/projects", noisy["secret"])
        try:
            await asyncio.sleep(NOISE_LEAD_S)
            loud.append(await p99_ms(victim, path, REQUESTS_PER_ROUND))
        finally:
            refused += stop_noise(noise)
    assert refused > 0  # the noisy key was held at its limit
    quiet_ms, loud_ms = statistics.median(quiet), statistics.median(loud)
    print(f"another tenant's p99: {quiet_ms:.2f} ms quiet, {loud_ms:.2f} ms beside the noise")
    assert loud_ms <= 1.2 * quiet_ms, (quiet, loud)
