"""Workers join and leave under load: several projects spread over the partitions, a second
and third worker started, one killed with SIGKILL, another started, the first stopped with
SIGTERM; then every project's ledger passes verify, every accepted transaction has exactly one
final status, and each client's transactions were applied in the order the broker got them."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from shared.contract.partition import partition_of
from tests.faults.conftest import LOAD_SCALE
from tests.faults.outcome import settle_and_check
from tests.faults.processes import Processes
from tests.faults.scenario import REQUESTS_PER_CLIENT_MAX, Scenario
from tests.faults.workload import Workload
from tests.support import new_ledger

LOAD_S = 2.0 * LOAD_SCALE
PROJECTS = 4
PROJECT_ATTEMPTS_MAX = 40


async def _workloads_on_other_partitions(scenario: Scenario) -> list[Workload]:
    """Workloads on new projects of the scenario's tenant, each on a partition none of the
    others uses, as far as the partition count allows."""
    used = {partition_of(scenario.load.project_id, scenario.settings.partition_count)}
    workloads = []
    for _ in range(PROJECT_ATTEMPTS_MAX):
        if len(workloads) == PROJECTS - 1:
            break
        ledger = await new_ledger(scenario.load.api)
        partition = partition_of(ledger.project_id, scenario.settings.partition_count)
        if partition in used and len(used) < scenario.settings.partition_count:
            continue
        used.add(partition)
        workload = Workload(
            ledger,
            scenario.settings,
            clients=3,
            requests_per_client_max=REQUESTS_PER_CLIENT_MAX * LOAD_SCALE,
        )
        await workload.prepare()
        workloads.append(workload)
    return workloads


async def test_workers_join_and_leave_under_load(
    processes: Processes, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario("workers join and leave", processes, session)
    await scenario.start()
    others = await _workloads_on_other_partitions(scenario)
    for workload in others:
        workload.start()
    for _ in range(2):  # two more workers join; the partitions spread over three
        await asyncio.sleep(LOAD_S)
        joined_at = scenario.now()
        await scenario.add_worker()
        await scenario.recovered(joined_at)
    await asyncio.sleep(LOAD_S)
    killed_at = scenario.now()
    scenario.workers[1].signal(signal.SIGKILL)
    assert await scenario.workers[1].wait_exit() == -signal.SIGKILL
    await scenario.recovered(killed_at)
    await asyncio.sleep(LOAD_S)
    await scenario.add_worker()
    await asyncio.sleep(LOAD_S)
    left_at = scenario.now()
    assert await scenario.workers[0].stop() == 0  # SIGTERM: hands its partitions over
    await scenario.recovered(left_at)
    await asyncio.sleep(LOAD_S)
    for workload in others:
        await workload.stop()
    partitions = sorted(
        {partition_of(w.project_id, scenario.settings.partition_count) for w in others}
        | {partition_of(scenario.load.project_id, scenario.settings.partition_count)}
    )
    handovers = sum(worker.log().count("lease taken") for worker in scenario.workers)
    scenario.note(f"projects on partitions {partitions}; leases taken={handovers}")
    await scenario.finish()
    for workload in others:
        await settle_and_check(
            scenario.settings, workload, scenario.summary, scenario.processes.replays
        )
    assert all(worker.popen.poll() is None for worker in scenario.workers[2:])
