"""Operating it (docs/operations.md): request ids are kept when sane and made otherwise, echoed,
and followed from the access log through the queue to the worker's log line and the event;
both processes' /metrics move as a small load asks; /ready answers 200, or 503 naming each
service that does not answer, and a gateway or worker starts even when one is down. Against
the real services, in a namespace of the module's own, so that its worker is the only one
writing its partitions and its metrics count every transaction."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from shared.amqp.broker import EVENTS_EXCHANGE
from shared.database import migrate
from shared.ids import new_id
from shared.settings import Settings
from tests.events import WatchedQueue
from tests.processes import free_port
from tests.support import (
    AMQP_SERVER,
    DATABASE_SERVER,
    NAMESPACE,
    Api,
    create_tenant_key,
    ensure_topology,
    ensure_vhost,
    issue,
    namespace_settings,
    new_ledger,
    redeem,
    server_url,
    serving,
    transfer,
)
from worker.main import run_worker

OPERATE = f"{NAMESPACE}_operate"
SUBMIT_ROUTE = "/projects/{projectId}/transactions"
LOAD_TRANSACTIONS = 20
READY_WAIT_S = 20
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Operated:
    settings: Settings
    gateway_url: str
    worker_url: str


@pytest.fixture(scope="module")
async def operated() -> AsyncIterator[Operated]:
    """A gateway and the only worker of the module's namespace, the worker's /metrics on a port
    of its own."""
    settings = namespace_settings(
        database_url=server_url(DATABASE_SERVER, f"cloudwallet_{OPERATE}"),
        amqp_url=server_url(AMQP_SERVER, f"cloudwallet-{OPERATE}"),
        worker_metrics_port=free_port(),
        metrics_refresh_ms=200,
    )
    await asyncio.to_thread(ensure_vhost, settings)
    await ensure_topology(settings)
    await migrate(settings)
    async with serving(create_app(settings)) as url:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop))
        worker_url = f"http://127.0.0.1:{settings.worker_metrics_port}"
        try:
            await wait_ready(worker_url)
            yield Operated(settings, url, worker_url)
        finally:
            stop.set()
            await asyncio.wait_for(worker, timeout=30)


async def wait_ready(url: str) -> None:
    """Wait (at most READY_WAIT_S) for the worker's /ready to answer 200: it has reached
    every service."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(READY_WAIT_S):
        while True:
            try:
                async with session.get(url + "/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 where nothing listens while the test runs: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


async def scrape(session: aiohttp.ClientSession, url: str) -> Samples:
    """Every sample of a /metrics page, by name and labels."""
    async with session.get(url + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_sane_request_id_is_echoed_and_any_other_replaced_by_a_new_one(
    operated: Operated, http_session: aiohttp.ClientSession
) -> None:
    async def answer(path: str, request_id: str | None) -> str:
        headers = {} if request_id is None else {"X-Request-Id": request_id}
        async with http_session.get(operated.gateway_url + path, headers=headers) as response:
            return response.headers["X-Request-Id"]

    sane = "client-42.retry:1_a"
    assert await answer("/health", sane) == sane
    assert await answer("/no/such/route", sane) == sane  # refusals carry it too
    made = [
        await answer("/health", None),
        await answer("/health", "two words"),
        await answer("/health", "x" * (operated.settings.request_id_length_max + 1)),
        await answer("/health", "comma,separated"),
    ]
    assert all(len(one) == 24 and int(one, 16) >= 0 for one in made)
    assert len(set(made)) == len(made)


async def test_a_submission_is_followed_by_its_request_id_to_the_worker_and_its_event(
    operated: Operated, http_session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api_key = await create_tenant_key(operated.settings)
    api = Api(http_session, operated.gateway_url, api_key)
    ledger = await new_ledger(api)
    treasury = await ledger.system_wallet()
    events = await WatchedQueue.bind(
        operated.settings,
        EVENTS_EXCHANGE,
        f"transaction.*.{ledger.project_id}",
        f"hold.*.{ledger.project_id}",
    )
    request_id = f"follow-{new_id()}"
    try:
        reply = await api.call(
            "POST",
            f"/projects/{ledger.project_id}/transactions",
            {
                "referenceId": new_id(),
                "operations": [issue(treasury, 5), {"type": "Hold", "from": treasury, "amount": 2}],
            },
            headers={"X-Request-Id": request_id},
        )
        assert reply.status == 202
        echoed = {name.lower(): text for name, text in reply.headers.items()}["x-request-id"]
        assert echoed == request_id
        final = await api.final(ledger.project_id, reply.body["id"])
        assert final["status"] == "Completed"
        event_headers = await events.headers(final["id"])
        hold_id = final["operations"][1]["holdId"]
        hold_event_headers = await events.headers(f"{hold_id}.pending")
    finally:
        await events.close()
    assert event_headers.get("request-id") == request_id
    assert hold_event_headers.get("request-id") == request_id

    (access,) = [
        record
        for record in caplog.records
        if record.name == "gateway.access" and getattr(record, "request_id", None) == request_id
    ]
    fields: dict[str, Any] = access.fields  # type: ignore[attr-defined]
    assert fields["method"] == "POST"
    assert fields["route"] == SUBMIT_ROUTE
    assert fields["status"] == 202
    assert fields["keyId"] == api_key.split(".")[1]
    assert api_key.split(".")[2] not in access.getMessage()
    worker_lines = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("worker") and getattr(record, "request_id", None) == request_id
    ]
    assert len(worker_lines) == 1
    assert final["id"] in worker_lines[0]
    assert "Completed" in worker_lines[0]


async def test_the_items_of_a_batch_request_are_followed_by_its_request_id(
    operated: Operated, http_session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = Api(http_session, operated.gateway_url, await create_tenant_key(operated.settings))
    ledger = await new_ledger(api)
    treasury = await ledger.system_wallet()
    request_id = f"batch-{new_id()}"
    items = [{"referenceId": new_id(), "operations": [issue(treasury, 1)]} for _ in range(3)]
    reply = await api.call(
        "POST",
        f"/projects/{ledger.project_id}/transactions/batch",
        {"transactions": items},
        headers={"X-Request-Id": request_id},
    )
    assert reply.status == 202
    ids = [item["body"]["id"] for item in reply.body["items"]]
    for transaction_id in ids:
        assert (await api.final(ledger.project_id, transaction_id))["status"] == "Completed"
    followed = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("worker") and getattr(record, "request_id", None) == request_id
    ]
    assert sorted(next(one for one in ids if one in line) for line in followed) == sorted(ids)


async def test_both_processes_metrics_move_as_a_small_load_asks(
    operated: Operated, http_session: aiohttp.ClientSession
) -> None:
    api = Api(http_session, operated.gateway_url, await create_tenant_key(operated.settings))
    ledger = await new_ledger(api)
    treasury, wallet = await ledger.system_wallet(), await ledger.customer_wallet()
    gateway_before = await scrape(http_session, operated.gateway_url)
    worker_before = await scrape(http_session, operated.worker_url)

    accepted = [
        await api.submit(ledger.project_id, [issue(treasury, 10), transfer(treasury, wallet, 1)])
        for _ in range(LOAD_TRANSACTIONS - 1)
    ]
    accepted.append(await api.submit(ledger.project_id, [redeem(wallet, 10_000)]))
    finals = [await api.final(ledger.project_id, one["id"]) for one in accepted]
    assert [one["status"] for one in finals].count("Failed") == 1

    gateway = await scrape(http_session, operated.gateway_url)
    worker = await scrape(http_session, operated.worker_url)
    requests = "cloudwallet_http_requests_total"
    labels = {"method": "POST", "route": SUBMIT_ROUTE, "status": "202"}
    assert value(gateway, requests, **labels) - value(gateway_before, requests, **labels) == (
        LOAD_TRANSACTIONS
    )
    submitted = "cloudwallet_submissions_total"
    assert value(gateway, submitted, outcome="accepted", code="") - value(
        gateway_before, submitted, outcome="accepted", code=""
    ) == (LOAD_TRANSACTIONS)
    latency = "cloudwallet_http_request_duration_seconds_count"
    route = {"method": "POST", "route": SUBMIT_ROUTE}
    assert value(gateway, latency, **route) - value(gateway_before, latency, **route) == (
        LOAD_TRANSACTIONS
    )
    applied = "cloudwallet_transactions_applied_total"
    completed = {"status": "Completed", "code": ""}
    failed = {"status": "Failed", "code": "InsufficientFunds"}
    assert value(worker, applied, **completed) - value(worker_before, applied, **completed) == (
        LOAD_TRANSACTIONS - 1
    )
    assert value(worker, applied, **failed) - value(worker_before, applied, **failed) == 1
    batches = "cloudwallet_worker_batch_size_count"
    assert value(worker, batches) > value(worker_before, batches)
    commits = "cloudwallet_worker_commit_duration_seconds_count"
    assert value(worker, commits) > value(worker_before, commits)
    assert value(worker, "cloudwallet_worker_partitions") == operated.settings.partition_count
    # Labels name routes, statuses and codes: never a project, a wallet or a transaction.
    ids = {ledger.project_id, treasury, wallet, *(one["id"] for one in accepted)}
    for _, pairs in [*gateway, *worker]:
        assert not ids & {label for _, label in pairs}
        assert not any(one in label for one in ids for _, label in pairs)


async def test_ready_answers_200_on_both_processes_while_every_service_answers(
    operated: Operated, http_session: aiohttp.ClientSession
) -> None:
    for url in (operated.gateway_url, operated.worker_url):
        async with http_session.get(url + "/ready") as response:
            assert response.status == 200
            assert await response.json() == {
                "status": "ready",
                "services": {"postgresql": "ok", "redis": "ok", "rabbitmq": "ok"},
            }


async def test_a_gateway_started_without_redis_and_the_broker_serves_and_names_them(
    migrated: Settings, http_session: aiohttp.ClientSession, closed_port: int
) -> None:
    settings = namespace_settings(
        redis_url=f"redis://127.0.0.1:{closed_port}/0",
        amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port}/",
        dependency_retry_ms=50,
        redis_timeout_ms=500,
    )
    api_key = await create_tenant_key(migrated)
    async with serving(create_app(settings)) as url:
        async with http_session.get(url + "/health") as response:
            assert response.status == 200
        async with http_session.get(url + "/ready") as response:
            assert response.status == 503
            assert response.headers["Retry-After"]
            error = (await response.json())["error"]
        api = Api(http_session, url, api_key)
        project = await api.created("/projects", {"name": "while the broker is down"})
        refused = await api.post(
            f"/projects/{project['id']}/transactions",
            {"referenceId": "r", "operations": [issue(new_id(), 1)]},
        )
    assert error["code"] == "NotReady"
    assert "Redis" in error["message"]
    assert "RabbitMQ" in error["message"]
    assert "PostgreSQL" not in error["message"]
    assert error["details"]["services"]["postgresql"] == "ok"
    assert refused.status == 503


async def test_a_gateway_started_without_postgresql_serves_and_names_it(
    migrated: Settings, http_session: aiohttp.ClientSession, closed_port: int
) -> None:
    settings = namespace_settings(
        database_url=f"postgresql://postgres@127.0.0.1:{closed_port}/cloudwallet",
        dependency_retry_ms=50,
    )
    async with serving(create_app(settings)) as url:
        async with http_session.get(url + "/health") as response:
            assert response.status == 200
        async with http_session.get(url + "/ready") as response:
            assert response.status == 503
            error = (await response.json())["error"]
    assert "PostgreSQL" in error["message"]
    assert error["details"]["services"]["redis"] == "ok"
    assert error["details"]["services"]["rabbitmq"] == "ok"
