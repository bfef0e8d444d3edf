"""PostgreSQL's network fails for the gateway and the worker at once, under load (issue 21,
defect 7): cut (connections reset, new ones refused) for a few seconds, then stalled
(connections accepted, nothing forwarded) as long. The gateway's key and project caches are
given a TTL far shorter than the outage: submissions go on answering 202 from them all through
the cut, reads answer 503 with Retry-After within `database_query_timeout_ms` and never hang,
and the worker pauses and resumes alone. Afterwards `scenario.finish()` checks every 202
reached one final state, `verify`, no 5xx other than 503, and every process is alive."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
import pytest

from shared.settings import Settings
from tests.faults.conftest import LOAD_SCALE, ROUNDS, SOAK
from tests.faults.processes import Processes
from tests.faults.scenario import Scenario
from tests.proxy import POSTGRESQL_PORT, proxy_to, through
from tests.support import Api

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900 if SOAK else 150)]
LOAD_S = 1.5 * LOAD_SCALE  # load before the first fault, and between faults
FAULT_S = 3.0
CACHE_TTL_S = 1
QUERY_TIMEOUT_MS = 1000
READ_MARGIN_S = 1.0  # what a 503 may take beyond the query timeout
READ_PAUSE_S = 0.1


@dataclass
class Reads:
    """A client reading a wallet all along: what it was answered, and the slowest answer."""

    statuses: dict[int, int] = field(default_factory=dict)
    slowest_s: float = 0.0

    async def run(self, api: Api, path: str, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        limit_s = QUERY_TIMEOUT_MS / 1000 + READ_MARGIN_S
        while not stop.is_set():
            started = loop.time()
            try:
                reply = await asyncio.wait_for(api.get(path), timeout=limit_s)
            except (TimeoutError, aiohttp.ClientError) as error:
                raise AssertionError(f"a read got no answer within {limit_s} s") from error
            self.slowest_s = max(self.slowest_s, loop.time() - started)
            assert reply.status in (200, 503), reply
            assert reply.status == 200 or "Retry-After" in reply.headers, reply.headers
            self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1
            await asyncio.sleep(READ_PAUSE_S)


async def test_database_network_cut_and_stall_for_gateway_and_worker(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    stop_reading = asyncio.Event()
    async with proxy_to(POSTGRESQL_PORT) as proxy:
        try:
            worker_settings = through(fault_settings, proxy)
            gateway_settings = through(
                fault_settings,
                proxy,
                auth_cache_ttl_s=CACHE_TTL_S,
                auth_project_cache_ttl_s=CACHE_TTL_S,
                database_query_timeout_ms=QUERY_TIMEOUT_MS,
            )
            scenario = Scenario(
                "PostgreSQL cut and stalled for gateway and worker", processes, session
            )
            await scenario.start(gateway_settings=gateway_settings, worker_settings=worker_settings)
            load = scenario.load
            reads = Reads()
            wallet_path = f"/projects/{load.project_id}/wallets/{load.treasury}"
            reader = asyncio.create_task(reads.run(load.api, wallet_path, stop_reading))
            accepted_late_in_cuts = 0
            for _ in range(ROUNDS):
                await asyncio.sleep(LOAD_S)
                await proxy.cut()
                await asyncio.sleep(FAULT_S / 2)  # past the caches' TTL
                accepted_before = load.counts.accepted_202
                await asyncio.sleep(FAULT_S / 2)
                assert load.counts.accepted_202 > accepted_before, "submissions stopped at the TTL"
                accepted_late_in_cuts += load.counts.accepted_202 - accepted_before
                fault_at = scenario.now()
                await proxy.restore()
                await scenario.recovered(fault_at)
                await asyncio.sleep(LOAD_S)
                proxy.pause()
                await asyncio.sleep(FAULT_S)
                fault_at = scenario.now()
                proxy.resume()
                await scenario.recovered(fault_at)
            await asyncio.sleep(LOAD_S)
            stop_reading.set()
            await reader
            scenario.note(
                f"202s late in the cuts={accepted_late_in_cuts}"
                f" reads={sum(reads.statuses.values())}"
                f" (200={reads.statuses.get(200, 0)}, 503={reads.statuses.get(503, 0)})"
                f" slowest read={reads.slowest_s:.2f} s"
            )
            await scenario.finish()
        finally:
            stop_reading.set()
    assert reads.statuses.get(503, 0) > 0, "the reads never met the outage"
    for process in processes.started:
        assert process.popen.poll() is None, f"{process.label} exited"
