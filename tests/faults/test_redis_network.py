"""Redis cut (connections reset, no protocol close) and stalled (bytes held) under load, for the
gateway and the worker processes at once, through one TCP proxy: the clients retry each 503
with the same referenceId, and afterwards every 202 reached exactly one final state, the ledger
verifies, nothing was applied twice, no answer was a 5xx other than 503, and every process is
alive."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from shared.settings import Settings
from tests.faults.conftest import LOAD_SCALE, ROUNDS
from tests.faults.processes import Processes
from tests.faults.scenario import Scenario
from tests.proxy import REDIS_PORT, proxy_to, through

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]
LOAD_S = 1.5 * LOAD_SCALE
CUT_S = 1.0
STALL_S = 3.0


async def test_redis_cut_and_stalled_under_load(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    async with proxy_to(REDIS_PORT) as proxy:
        proxied = through(fault_settings, proxy)
        scenario = Scenario("Redis cut x3 and stalled under load", processes, session)
        await scenario.start(gateway_settings=proxied, worker_settings=proxied)
        unavailable = scenario.load.counts.unavailable_503
        for _ in range(3 * ROUNDS):
            await asyncio.sleep(LOAD_S)
            await proxy.cut()
            await asyncio.sleep(CUT_S)
            fault_at = scenario.now()
            await proxy.restore()
            await scenario.recovered(fault_at)
        await asyncio.sleep(LOAD_S)
        proxy.pause()
        await asyncio.sleep(STALL_S)
        fault_at = scenario.now()
        proxy.resume()
        await scenario.recovered(fault_at)
        await asyncio.sleep(LOAD_S)
        scenario.note(f"503 during the faults={scenario.load.counts.unavailable_503 - unavailable}")
        await scenario.finish()
    assert scenario.gateway is not None and scenario.gateway.popen.poll() is None
    assert all(worker.popen.poll() is None for worker in scenario.workers)
    assert scenario.load.counts.unavailable_503 > unavailable, "the faults were never seen"
