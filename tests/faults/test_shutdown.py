"""SIGTERM, the way deployments stop processes: the gateway stops accepting connections but
answers the requests already in flight, and the worker commits and acknowledges the batch in
hand before it exits, so that its successor finds nothing applied but unacknowledged."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from shared.settings import Settings
from tests.faults.processes import Processes
from tests.faults.scenario import Scenario
from tests.proxy import RABBITMQ_PORT, proxy_to, through
from tests.support import Api, create_tenant_key, new_ledger

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
IN_FLIGHT = 5
EXIT_BOUND_S = 10


async def test_gateway_finishes_in_flight_requests_on_sigterm(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    """The broker's confirms are held back (a paused proxy) so that requests are in flight for
    certain when SIGTERM arrives; once they are released, each still gets its 202."""
    async with proxy_to(RABBITMQ_PORT) as proxy:
        gateway, url = await processes.gateway(session, settings=through(fault_settings, proxy))
        await processes.worker("worker-1")
        api = Api(session, url, await create_tenant_key(fault_settings))
        ledger = await new_ledger(api)
        wallet = await ledger.system_wallet()
        operations = [{"type": "Issue", "to": wallet, "amount": "1"}]

        proxy.pause()
        in_flight = [
            asyncio.create_task(
                api.post(
                    f"/projects/{ledger.project_id}/transactions",
                    {"referenceId": f"in-flight-{number}", "operations": operations},
                )
            )
            for number in range(IN_FLIGHT)
        ]
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in in_flight)
        gateway.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as fresh, fresh.get(url + "/health"):
                pass
        proxy.resume()
        replies = await asyncio.gather(*in_flight)
        assert [reply.status for reply in replies] == [202] * IN_FLIGHT
        assert await gateway.wait_exit(EXIT_BOUND_S) == 0
    _, url = await processes.gateway(session, label="gateway-2")
    api.base_url = url
    for reply in replies:
        assert (await api.final(ledger.project_id, reply.body["id"]))["status"] == "Completed"
    assert await api.balance(ledger.project_id, wallet) == IN_FLIGHT


async def test_worker_acks_its_batch_before_exiting_on_sigterm(
    processes: Processes, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario("SIGTERM worker under load", processes, session)
    await scenario.start()
    for _ in range(2):
        await asyncio.sleep(1.5)
        stopping = scenario.workers[-1]
        fault_at = scenario.now()
        stopping.signal(signal.SIGTERM)
        assert await stopping.wait_exit(EXIT_BOUND_S) == 0
        scenario.note(f"exited in {scenario.now() - fault_at:.2f} s")
        await scenario.add_worker()
        await scenario.recovered(fault_at)
    await asyncio.sleep(1.5)
    await scenario.finish()
    replays = processes.replays()
    assert replays.already_applied == 0, "a committed batch was left unacknowledged"
