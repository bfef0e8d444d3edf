"""Webhooks across a worker's crash (design section 12: at least once, from the outbox): a
worker killed (kill -9) while an endpoint holds its delivery leaves it to be sent again by the
next worker, with the same webhook-id and body; and every transaction committed around a kill
is delivered, none lost; and a sender cut off from PostgreSQL waits it out and goes on."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from shared.settings import Settings
from tests.faults.processes import Processes
from tests.proxy import POSTGRESQL_PORT, proxy_to, through
from tests.support import Api, create_tenant_key, fetch_rows, issue, new_ledger
from tests.webhook_receiver import HANG, receiving

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]
TRANSACTIONS = 300


async def test_a_worker_killed_mid_delivery_leaves_it_to_be_sent_again(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    _, url = await processes.gateway(session)
    worker = await processes.worker("worker-1")
    api = Api(session, url, await create_tenant_key(fault_settings))
    ledger = await new_ledger(api)
    async with receiving(lambda event_id, attempt: HANG if attempt == 1 else 200) as receiver:
        endpoint = await api.created(
            f"/projects/{ledger.project_id}/webhooks", {"url": receiver.url, "events": ["*"]}
        )
        wallet = await ledger.customer_wallet()
        done = await api.run(ledger.project_id, [issue(wallet, 7)])
        await receiver.wait_for(lambda received: len(receiver.of(done["id"])) >= 1)
        worker.signal(signal.SIGKILL)  # while the endpoint holds the first attempt
        await worker.wait_exit()
        killed_at = time.monotonic()
        await processes.worker("worker-2")
        await receiver.wait_for(lambda received: len(receiver.of(done["id"])) >= 2, 20)
        first, second = receiver.of(done["id"])[:2]
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == done["id"]
    # Sent again once the first attempt's claim lapsed: its timeout (2 s) and margin (1 s).
    assert second.at_s - killed_at < 10
    log = await fetch_rows(
        fault_settings,
        "SELECT attempt, status_code FROM webhook_attempts WHERE endpoint_id = $1",
        endpoint["id"],
    )
    assert [(row["attempt"], row["status_code"]) for row in log] == [(2, 200)]


async def test_events_committed_around_a_kill_are_all_delivered(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    _, url = await processes.gateway(session)
    worker = await processes.worker("worker-1")
    api = Api(session, url, await create_tenant_key(fault_settings))
    ledger = await new_ledger(api)
    async with receiving() as receiver:
        await api.created(
            f"/projects/{ledger.project_id}/webhooks",
            {"url": receiver.url, "events": ["transaction.completed"]},
        )
        wallet = await ledger.customer_wallet()

        async def submit_all() -> list[str]:
            accepted = []
            for number in range(TRANSACTIONS):
                accepted.append((await api.submit(ledger.project_id, [issue(wallet, 1)]))["id"])
                if number % 50 == 0:
                    await asyncio.sleep(0.05)
            return accepted

        submitting = asyncio.create_task(submit_all())
        await receiver.wait_for(lambda received: len(received) >= TRANSACTIONS // 3, 30)
        worker.signal(signal.SIGKILL)
        await worker.wait_exit()
        await processes.worker("worker-2")
        ids = set(await submitting)
        await receiver.wait_for(
            lambda received: {one.event_id for one in received} >= ids, timeout_s=40
        )
    duplicates = len(receiver.received) - len({one.event_id for one in receiver.received})
    print(f"webhooks across a kill: {len(ids)} events, {duplicates} sent again")
    assert await api.balance(ledger.project_id, wallet) == TRANSACTIONS


async def test_a_sender_cut_off_from_postgresql_waits_it_out_and_goes_on(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    _, url = await processes.gateway(session)
    apart = fault_settings.model_copy(update={"webhook_delivery": False})
    await processes.worker("worker-1", apart)
    api = Api(session, url, await create_tenant_key(fault_settings))
    ledger = await new_ledger(api)
    async with proxy_to(POSTGRESQL_PORT) as proxy, receiving() as receiver:
        sender = processes.webhooks(
            "webhooks", through(fault_settings, proxy, webhook_database_retry_max_ms=500)
        )
        await api.created(
            f"/projects/{ledger.project_id}/webhooks", {"url": receiver.url, "events": ["*"]}
        )
        wallet = await ledger.customer_wallet()
        before = await api.run(ledger.project_id, [issue(wallet, 1)])
        await receiver.wait_for(lambda received: len(receiver.of(before["id"])) >= 1, 20)
        await proxy.cut()
        during = await api.run(ledger.project_id, [issue(wallet, 2)])  # the worker is direct
        await asyncio.sleep(3)
        assert receiver.of(during["id"]) == []
        assert sender.popen.poll() is None
        await proxy.restore()
        await receiver.wait_for(lambda received: len(receiver.of(during["id"])) >= 1, 20)
    assert "webhooks: database unavailable" in sender.log()
    assert sender.popen.poll() is None
