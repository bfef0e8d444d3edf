"""`python -m tests.e2e.noise URL API_KEY SENT_PER_S`: the noisy neighbour of
tests/e2e/test_noisy_neighbour.py, in a process of its own as another tenant's client would be
(in the test's own event loop its requests would delay the measured ones on the client side).
Sends GET URL at SENT_PER_S, paced, prints "ready" after the first answer, and stops when its
standard input closes or after NOISE_S_MAX, printing how many answers were 429."""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

NOISE_S_MAX = 60.0  # bounded, whatever the test does


async def hammer(url: str, api_key: str, sent_per_s: float) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)  # readable: closed by the test
    refused = 0
    interval_s = 1 / sent_per_s
    started = next_at = time.perf_counter()
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set() and time.perf_counter() - started < NOISE_S_MAX:
            async with session.get(url, headers=headers) as reply:
                await reply.read()
                refused += reply.status == 429
            if next_at == started:
                print("ready", flush=True)
            next_at += interval_s
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return refused


def main() -> None:
    url, api_key, sent_per_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    print(asyncio.run(hammer(url, api_key, sent_per_s)), flush=True)


if __name__ == "__main__":
    main()
