"""One fault scenario: a gateway and workers as real processes, a tenant with its own project,
the load, the time to recover after each fault, and the checks at the end."""

from __future__ import annotations

import asyncio

import aiohttp

from shared.settings import Settings
from tests.faults.conftest import LOAD_SCALE
from tests.faults.outcome import Summary, settle_and_check
from tests.faults.processes import Process, Processes
from tests.faults.workload import Workload
from tests.support import Api, create_tenant_key, new_ledger

REQUESTS_PER_CLIENT_MAX = 5000  # a bound on the load, far above what a scenario's time allows


class Scenario:
    def __init__(self, name: str, processes: Processes, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.processes = processes
        self.session = session
        self.settings = processes.settings
        self.summary = Summary(name, asyncio.get_running_loop().time())
        self.workload: Workload | None = None
        self.gateway: Process | None = None
        self.workers: list[Process] = []

    @property
    def load(self) -> Workload:
        if self.workload is None:
            raise RuntimeError("the scenario has not started")
        return self.workload

    async def start(
        self,
        *,
        gateway_settings: Settings | None = None,
        worker_settings: Settings | None = None,
        resubmit_fraction: float = 0.0,
        **worker_env: str,
    ) -> None:
        """A gateway and one worker, a funded project, and the load running."""
        self.gateway, url = await self.processes.gateway(self.session, settings=gateway_settings)
        self.workers.append(await self.processes.worker("worker-1", worker_settings, **worker_env))
        api = Api(self.session, url, await create_tenant_key(self.settings))
        self.workload = Workload(
            await new_ledger(api),
            self.settings,
            resubmit_fraction=resubmit_fraction,
            requests_per_client_max=REQUESTS_PER_CLIENT_MAX * LOAD_SCALE,
        )
        await self.workload.prepare()
        self.summary.started_s = asyncio.get_running_loop().time()
        self.workload.start()

    async def add_worker(
        self, settings: Settings | None = None, *, ready: bool = True, **env: str
    ) -> Process:
        worker = await self.processes.worker(
            f"worker-{len(self.workers) + 1}", settings, ready=ready, **env
        )
        self.workers.append(worker)
        return worker

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def recovered(self, fault_at: float) -> float:
        """Seconds from the fault until a transaction submitted after it completes."""
        await self.load.probe()
        seconds = self.now() - fault_at
        self.summary.recoveries_s.append(seconds)
        return seconds

    def note(self, text: str) -> None:
        self.summary.notes.append(text)

    async def finish(self) -> None:
        """Stop the load, wait for every accepted transaction, check, and summarize."""
        await self.load.stop()
        await settle_and_check(self.settings, self.load, self.summary, self.processes.replays)
