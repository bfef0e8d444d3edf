"""The load of a fault scenario: clients that submit transactions over HTTP one after another,
as a careful client would: a 429, a 503 or a lost connection is retried with the same
reference ID until the gateway answers 202 or 409, and every accepted (id, referenceId) is
logged. Some clients also resubmit reference IDs they already had accepted, as a client unsure
of its first attempt does. Part of the load is holds: Holds that expire within seconds or never,
and Captures (half of them partial) and Voids of the holds the client made before."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shared.contract.messages import hold_id
from shared.ids import new_id
from shared.settings import Settings
from tests.events import EventLog
from tests.support import FINAL_STATUSES, Api, Ledger

SUBMIT_PATIENCE_S = 45  # how long a client keeps retrying one reference ID
RETRY_PAUSE_S = 0.1
CUSTOMER_WALLETS = 6
TREASURY_FUNDS = 10**9
HOLD_TIMEOUTS_S = (1, 2, 3, None)  # the holds of the load expire soon, or never


@dataclass
class Accepted:
    id: str
    reference_id: str
    client: str
    sequence: int
    resubmitted: bool


@dataclass
class Counts:
    requests: int = 0
    accepted_202: int = 0
    duplicate_409: int = 0
    unavailable_503: int = 0
    too_many_429: int = 0
    connection_errors: int = 0


@dataclass
class Workload:
    ledger: Ledger
    settings: Settings
    clients: int = 6
    resubmit_fraction: float = 0.0
    requests_per_client_max: int = 5000
    seed: int = 4
    treasury: str = ""
    customers: list[str] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    references_sent: set[str] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def api(self) -> Api:
        return self.ledger.api

    @property
    def project_id(self) -> str:
        return self.ledger.project_id

    @property
    def events(self) -> EventLog:
        return EventLog(self.settings, self.project_id)

    async def prepare(self) -> None:
        """Keep the project's events; wallets for the load, and a funded treasury."""
        await self.events.bind()
        self.treasury = await self.ledger.system_wallet()
        self.customers = [await self.ledger.customer_wallet() for _ in range(CUSTOMER_WALLETS)]
        funded = await self.api.run(
            self.project_id, [{"type": "Issue", "to": self.treasury, "amount": TREASURY_FUNDS}]
        )
        assert funded["status"] == "Completed", funded

    def start(self) -> None:
        for number in range(self.clients):
            self._tasks.append(asyncio.create_task(self._client(f"c{number}")))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def submit(
        self, client: str, sequence: int, reference_id: str, operations: list[dict[str, Any]]
    ) -> Accepted:
        """Submit until answered 202 or 409, as a careful client does."""
        self.references_sent.add(reference_id)
        path = f"/projects/{self.project_id}/transactions"
        body = {"referenceId": reference_id, "operations": operations}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBMIT_PATIENCE_S
        resubmitted = sequence < 0
        while loop.time() < deadline:
            self.counts.requests += 1
            try:
                reply = await self.api.post(path, body)
            except (aiohttp.ClientError, TimeoutError):
                self.counts.connection_errors += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if reply.status == 202:
                self.counts.accepted_202 += 1
                accepted = Accepted(reply.body["id"], reference_id, client, sequence, resubmitted)
                break
            if reply.status == 409 and reply.body["error"]["code"] == "DuplicateReferenceId":
                self.counts.duplicate_409 += 1
                details = reply.body["error"]["details"]
                assert details["requestMatches"] is True, reply.body
                holder = details["transaction"]["id"]
                accepted = Accepted(holder, reference_id, client, sequence, resubmitted)
                break
            if reply.status in (429, 503):
                assert "Retry-After" in reply.headers, reply.headers
                if reply.status == 503:
                    self.counts.unavailable_503 += 1
                else:
                    self.counts.too_many_429 += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            raise AssertionError(f"submit answered {reply.status}: {reply.body}")
        else:
            raise AssertionError(f"{reference_id} was not accepted in {SUBMIT_PATIENCE_S} s")
        self.accepted.append(accepted)
        return accepted

    async def _client(self, client: str) -> None:
        rng = random.Random(f"{self.seed}-{client}")
        sent: list[tuple[str, list[dict[str, Any]]]] = []
        holds: list[str] = []  # the ids of the holds this client's accepted Holds make
        for sequence in range(self.requests_per_client_max):
            if self._stop.is_set():
                return
            if sent and rng.random() < self.resubmit_fraction:
                reference_id, operations = rng.choice(sent)
                await self.submit(client, -1, reference_id, operations)
                continue
            reference_id = f"{client}-{sequence}-{new_id()}"
            operations = self._operations(rng, holds)
            accepted = await self.submit(client, sequence, reference_id, operations)
            sent.append((reference_id, operations))
            if operations[0]["type"] == "Hold":
                holds.append(hold_id(accepted.id, 0))

    def _operations(self, rng: random.Random, holds: list[str]) -> list[dict[str, Any]]:
        draw = rng.random()
        customer = rng.choice(self.customers)
        if draw < 0.35:
            return [transfer(self.treasury, customer, rng.randint(1, 100))]
        if draw < 0.65:
            other = rng.choice([wallet for wallet in self.customers if wallet != customer])
            return [transfer(customer, other, rng.randint(1, 150))]
        if draw < 0.72:
            return [{"type": "Redeem", "from": customer, "amount": str(rng.randint(1, 80))}]
        if draw < 0.8:
            other = rng.choice([wallet for wallet in self.customers if wallet != customer])
            operation: dict[str, Any] = {
                "type": "Hold",
                "from": customer,
                "to": other,
                "amount": str(rng.randint(1, 100)),
            }
            timeout_s = rng.choice(HOLD_TIMEOUTS_S)
            if timeout_s is not None:
                operation["timeoutS"] = timeout_s
            return [operation]
        if draw < 0.9 and holds:
            held = holds.pop(rng.randrange(len(holds)))
            if rng.random() < 0.3:
                return [{"type": "Void", "holdId": held}]
            if rng.random() < 0.5:  # partial: at most the smallest hold of the load
                return [{"type": "Capture", "holdId": held, "amount": str(rng.randint(1, 50))}]
            return [{"type": "Capture", "holdId": held}]
        return [
            {"type": "Issue", "to": self.treasury, "amount": "1000"},
            transfer(self.treasury, customer, rng.randint(1, 50)),
        ]

    async def probe(self) -> Accepted:
        """One transaction submitted now, waited for until final: when it completes, the
        pipeline has recovered."""
        accepted = await self.submit(
            "probe",
            len(self.accepted),
            f"probe-{new_id()}",
            [transfer(self.treasury, self.customers[0], 1)],
        )
        await wait_final(self.api, self.project_id, accepted.id, timeout_s=SUBMIT_PATIENCE_S)
        return accepted


def transfer(source: str, target: str, amount: int) -> dict[str, Any]:
    return {"type": "Transfer", "from": source, "to": target, "amount": str(amount)}


async def wait_final(api: Api, project_id: str, transaction_id: str, timeout_s: float) -> str:
    """Poll over HTTP until the transaction is final. A 404 is only "not visible yet": with
    Redis flushed, a transaction still in its queue is known to nobody until it is applied."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        try:
            reply = await api.get(f"/projects/{project_id}/transactions/{transaction_id}")
        except (aiohttp.ClientError, TimeoutError):
            reply = None
        if reply is not None and reply.status == 200 and reply.body["status"] in FINAL_STATUSES:
            return str(reply.body["status"])
        if reply is not None and reply.status not in (200, 404, 503):
            raise AssertionError(f"status read answered {reply.status}: {reply.body}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"transaction {transaction_id} did not finish in {timeout_s} s")
