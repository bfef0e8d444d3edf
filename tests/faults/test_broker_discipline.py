"""The gateway's side of the broker contract, on a virtual host of its own with tiny queues and
the broker reached through a proxy: a full queue (reject-publish), an unroutable publish and a
confirm that does not come in time each answer 503 with Retry-After and release the reference
ID; and a publish whose confirm timed out but which reached the queue is applied once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import aiohttp
import pytest

from gateway.app import create_app
from shared.contract.partition import partition_of, queue_name
from shared.settings import Settings
from tests.faults.conftest import fault_namespace_settings, purge
from tests.proxy import RABBITMQ_PORT, TcpProxy, proxy_to, through
from tests.support import (
    NAMESPACE,
    Api,
    Ledger,
    assert_ledger_consistent,
    create_tenant_key,
    ensure_topology,
    ensure_vhost,
    new_ledger,
    serving,
)
from worker.main import run_worker

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
QUEUE_LENGTH_MAX = 3


@dataclass
class Gateway:
    settings: Settings
    proxy: TcpProxy
    ledger: Ledger
    wallet: str

    @property
    def queue(self) -> str:
        return queue_name(partition_of(self.ledger.project_id, self.settings.partition_count))

    async def submit(self, reference_id: str) -> tuple[int, str]:
        reply = await self.ledger.api.post(
            f"/projects/{self.ledger.project_id}/transactions",
            {
                "referenceId": reference_id,
                "operations": [{"type": "Issue", "to": self.wallet, "amount": "3"}],
            },
        )
        if reply.status == 202:
            return 202, str(reply.body["id"])
        if reply.status == 503:
            assert reply.headers["Retry-After"] == str(self.settings.retry_after_s)
        return reply.status, str(reply.body["error"]["code"])


@pytest.fixture
async def gateway(
    fault_settings: Settings, session: aiohttp.ClientSession
) -> AsyncIterator[Gateway]:
    """An in-process gateway on the `-full` virtual host, through a proxy, and no worker."""
    async with proxy_to(RABBITMQ_PORT) as proxy:
        direct = fault_namespace_settings(
            amqp_url=f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}/cloudwallet-{NAMESPACE}-full",
            queue_length_max=QUEUE_LENGTH_MAX,
            publish_confirm_timeout_ms=500,
        )
        await asyncio.to_thread(ensure_vhost, direct)
        await ensure_topology(direct)
        await purge(direct, [queue_name(k) for k in range(direct.partition_count)])
        async with serving(create_app(through(direct, proxy))) as url:
            ledger = await new_ledger(Api(session, url, await create_tenant_key(fault_settings)))
            yield Gateway(direct, proxy, ledger, await ledger.system_wallet())


async def queue_depth(settings: Settings, queue: str) -> int:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        declared = await (await connection.channel()).declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def test_a_full_queue_is_a_503_and_releases_the_reference(gateway: Gateway) -> None:
    """RabbitMQ 3.10's quorum queues take one message past `x-max-length` before they reject."""
    accepted = 0
    while (answer := await gateway.submit(f"fill-{accepted}"))[0] == 202:
        accepted += 1
        assert accepted <= QUEUE_LENGTH_MAX + 1, "the queue never rejected a publish"
    assert answer == (503, "QueueFull")
    assert accepted >= QUEUE_LENGTH_MAX
    assert await queue_depth(gateway.settings, gateway.queue) == accepted
    refused = f"fill-{accepted}"
    assert await gateway.submit(refused) == (503, "QueueFull")  # released: not a 409
    await purge(gateway.settings, [gateway.queue])
    assert (await gateway.submit(refused))[0] == 202


async def test_an_unroutable_publish_is_a_503_not_a_silent_drop(gateway: Gateway) -> None:
    connection = await aio_pika.connect(gateway.settings.amqp_url.get_secret_value())
    try:
        await (await connection.channel()).queue_delete(gateway.queue)
    finally:
        await connection.close()
    try:
        assert await gateway.submit("nowhere") == (503, "QueueUnroutable")
        assert await gateway.submit("nowhere") == (503, "QueueUnroutable")
    finally:
        await ensure_topology(gateway.settings)
    assert (await gateway.submit("nowhere"))[0] == 202


async def test_a_late_confirm_is_a_503_and_the_retry_applies_once(gateway: Gateway) -> None:
    """The network holds the publish past the confirm timeout and delivers it later: 503, the
    reference is released, the client's retry is accepted under a new id, and the queue holds
    both copies. The worker applies the reference ID once and makes the retry's id an alias."""
    gateway.proxy.pause()
    try:
        assert await gateway.submit("slow-confirm") == (503, "ServiceUnavailable")
    finally:
        gateway.proxy.resume()
    status, retry_id = await gateway.submit("slow-confirm")
    assert status == 202
    assert await queue_depth(gateway.settings, gateway.queue) == 2
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(gateway.settings, stop))
    try:
        final = await gateway.ledger.api.final(gateway.ledger.project_id, retry_id)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
    assert final["status"] == "Completed"
    assert final["referenceId"] == "slow-confirm"
    balance = await gateway.ledger.api.balance(gateway.ledger.project_id, gateway.wallet)
    assert balance == 3
    await assert_ledger_consistent(
        gateway.settings, gateway.ledger.project_id, [(retry_id, "slow-confirm")]
    )
