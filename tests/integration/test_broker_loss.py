"""A broker connection lost while a publish waits for its confirm, through a proxy that closes
the socket (no Connection.Close) or holds every byte until the client's heartbeat gives up:
the publisher raises BrokerUnavailable, never aiormq's bare `Exception` or its CancelledError,
and the gateway answers 503 with Retry-After; once the broker is back, the client's retry is
accepted and applied once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import aiohttp
import pytest
from pydantic import SecretStr

from gateway.app import create_app
from shared.amqp import broker
from shared.amqp.publisher import Publisher
from shared.errors import BrokerUnavailable
from shared.ids import new_id
from shared.settings import Settings
from tests.proxy import RABBITMQ_PORT, TcpProxy, proxy_to, through
from tests.support import Api, Reply, create_tenant_key, new_ledger, serving

HELD_S = 0.5  # long enough for a publish to be on its way, its frames held by the proxy
HEARTBEAT_S = 1
# aiormq gives up on a connection that sent nothing for (heartbeat + 1) x 3 s, then wakes at
# most a heartbeat later; the confirm timeout is far longer, so that the heartbeat answers.
STALL_DETECTED_S = (HEARTBEAT_S + 1) * 3 + 2 * HEARTBEAT_S
CONFIRM_TIMEOUT_MS = 30_000
RETRIES_MAX = 50  # a client's retries of a 503, RETRY_PAUSE_S apart
RETRY_PAUSE_S = 0.2


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    async with proxy_to(RABBITMQ_PORT) as proxy:
        yield proxy


def transaction(project_id: str) -> dict[str, Any]:
    """A transaction message body (the held publish never reaches the broker)."""
    return {
        "v": 1,
        "id": new_id(),
        "projectId": project_id,
        "referenceId": new_id(),
        "operations": [],
        "submittedAt": "2024-01-01T00:00:00.000Z",
    }


async def retried(api: Api, path: str, body: dict[str, Any]) -> Reply:
    """POST as a careful client does: a 503 is tried again after a pause, with the same body."""
    for _ in range(RETRIES_MAX):
        reply = await api.post(path, body)
        if reply.status != 503:
            return reply
        await asyncio.sleep(RETRY_PAUSE_S)
    raise AssertionError(f"still 503 after {RETRIES_MAX} tries: {reply.body}")


@pytest.mark.parametrize("fault", ["socket closed", "socket stalled"])
async def test_a_publish_whose_connection_is_lost_raises_broker_unavailable(
    migrated: Settings, proxy: TcpProxy, fault: str
) -> None:
    settings = through(
        migrated,
        proxy,
        amqp_heartbeat_s=HEARTBEAT_S,
        publish_confirm_timeout_ms=CONFIRM_TIMEOUT_MS,
    )
    publisher = await Publisher.open(settings, name="test-broker-loss")
    loop = asyncio.get_running_loop()
    try:
        proxy.pause()
        publishing = asyncio.create_task(publisher.publish_batch("p", [transaction("p")]))
        started_s = loop.time()
        await asyncio.sleep(HELD_S)
        if fault == "socket closed":
            await proxy.cut()
        with pytest.raises(BrokerUnavailable) as raised:
            await asyncio.wait_for(publishing, timeout=STALL_DETECTED_S)
        lost_after_s = loop.time() - started_s
    finally:
        await proxy.cut()  # what the proxy still holds never reaches the broker
        proxy.resume()
        await publisher.close()
    assert raised.value.message == "the broker is unavailable"  # not the confirm timeout
    assert raised.value.retry_after_s == settings.retry_after_s
    assert lost_after_s < CONFIRM_TIMEOUT_MS / 1000
    cause = raised.value.__cause__
    if fault == "socket closed":
        assert type(cause) is Exception  # aiormq's connection ended without a reason
    else:
        assert isinstance(cause, asyncio.CancelledError)  # its heartbeat cancelled the reader


async def test_a_submission_whose_broker_connection_closes_answers_503_and_its_retry_applies(
    migrated: Settings, proxy: TcpProxy, gateway_url: str, http_session: aiohttp.ClientSession
) -> None:
    """The session's worker (`gateway_url`) consumes on the broker directly; this gateway
    publishes through the proxy."""
    settings = through(migrated, proxy)
    async with serving(create_app(settings)) as url:
        api = Api(http_session, url, await create_tenant_key(migrated))
        ledger = await new_ledger(api)
        wallet = await ledger.system_wallet()
        path = f"/projects/{ledger.project_id}/transactions"
        operations = [{"type": "Issue", "to": wallet, "amount": "7"}]
        body = {"referenceId": new_id(), "operations": operations}
        proxy.pause()
        submitting = asyncio.create_task(api.post(path, body))
        await asyncio.sleep(HELD_S)
        await proxy.cut()
        proxy.resume()
        refused = await submitting
        await proxy.restore()
        accepted = await retried(api, path, body)
        assert refused.status == 503, refused.body
        assert refused.headers["Retry-After"] == str(settings.retry_after_s)
        assert refused.body["error"]["code"] == "ServiceUnavailable"
        assert accepted.status == 202, accepted.body
        final = await api.final(ledger.project_id, str(accepted.body["id"]))
        assert final["status"] == "Completed"
        assert await api.balance(ledger.project_id, wallet) == 7


class RecordedConnection(aio_pika.RobustConnection):
    """A robust connection that keeps a list of every one made."""

    made: list[RecordedConnection] = []

    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        RecordedConnection.made.append(self)


async def test_a_connection_whose_first_attempt_fails_is_closed(migrated: Settings) -> None:
    """Left unclosed, aio-pika would close it from its finalizer, outside any task (a coroutine
    never awaited when that runs with no event loop)."""
    RecordedConnection.made.clear()
    nowhere = migrated.model_copy(
        update={
            "amqp_url": SecretStr("amqp://guest:guest@127.0.0.1:1/"),
            "amqp_connect_timeout_ms": 500,
        }
    )
    with pytest.raises(ConnectionError):
        await broker.connect(nowhere, name="cloudwallet-test", connection_class=RecordedConnection)
    assert len(RecordedConnection.made) == 1
    assert RecordedConnection.made[0].is_closed
