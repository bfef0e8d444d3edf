"""Traces (shared/tracing.py, docs/decisions/0025-traces.md) against the real services, with
the gateway and a worker in the test process and OpenTelemetry's in-memory exporter: one
submission is one trace of the request's span, its publish's and the worker's apply, each the
parent of the next, the apply's covering its batch's commit, and the queue message carries the
publish's traceparent; a batch request's items are applied under its one publish; with tracing
off nothing is recorded and no message carries a traceparent. In a namespace of the module's
own, so that its worker is the only one writing its partitions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.app import create_app
from shared import tracing
from shared.amqp.broker import TRANSACTIONS_EXCHANGE
from shared.contract.headers import REQUEST_IDS_HEADER, TRACEPARENTS_HEADER
from shared.contract.partition import partition_of, routing_key
from shared.database import migrate
from shared.ids import new_id
from shared.settings import Settings
from tests.events import WatchedQueue
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
    server_url,
    serving,
)
from worker.main import run_worker

TRACES = f"{NAMESPACE}_traces"
SUBMIT_ROUTE = "/projects/{projectId}/transactions"
WAIT_S = 10


@dataclass(frozen=True)
class Traced:
    settings: Settings
    gateway_url: str
    exporter: InMemorySpanExporter


@pytest.fixture(scope="module")
async def traced() -> AsyncIterator[Traced]:
    """A traced gateway and the only worker of the module's namespace, their spans exported to
    memory."""
    settings = namespace_settings(
        database_url=server_url(DATABASE_SERVER, f"cloudwallet_{TRACES}"),
        amqp_url=server_url(AMQP_SERVER, f"cloudwallet-{TRACES}"),
        tracing="console",
    )
    await asyncio.to_thread(ensure_vhost, settings)
    await ensure_topology(settings)
    await migrate(settings)
    exporter = InMemorySpanExporter()
    tracing.export_to(exporter)
    try:
        async with serving(create_app(settings)) as url:
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(settings, stop))
            try:
                yield Traced(settings, url, exporter)
            finally:
                stop.set()
                await asyncio.wait_for(worker, timeout=30)
    finally:
        tracing.stop()


def partition_key(settings: Settings, project_id: str) -> str:
    """The routing key of the project's partition: its published messages."""
    return routing_key(partition_of(project_id, settings.partition_count))


async def applied_spans(exporter: InMemorySpanExporter, ids: list[str]) -> list[ReadableSpan]:
    """The worker's spans of these transactions, in their order, once all have ended (within
    WAIT_S)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            spans = {
                span.attributes.get("cloudwallet.transaction.id"): span
                for span in exporter.get_finished_spans()
                if span.kind == SpanKind.CONSUMER and span.attributes is not None
            }
            if all(one in spans for one in ids):
                return [spans[one] for one in ids]
            await asyncio.sleep(0.05)


def trace_of(exporter: InMemorySpanExporter, trace_id: int) -> dict[SpanKind, list[ReadableSpan]]:
    spans: dict[SpanKind, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        if span.context is not None and span.context.trace_id == trace_id:
            spans.setdefault(span.kind, []).append(span)
    return spans


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def milliseconds(time: str) -> int:
    return int(datetime.fromisoformat(time).timestamp() * 1000)


async def test_a_submission_is_one_trace_from_its_request_through_the_broker_to_its_commit(
    traced: Traced, http_session: aiohttp.ClientSession
) -> None:
    api = Api(http_session, traced.gateway_url, await create_tenant_key(traced.settings))
    ledger = await new_ledger(api)
    treasury = await ledger.system_wallet()
    copies = await WatchedQueue.bind(
        traced.settings, TRANSACTIONS_EXCHANGE, partition_key(traced.settings, ledger.project_id)
    )
    request_id = f"traced-{new_id()}"
    try:
        reply = await api.call(
            "POST",
            f"/projects/{ledger.project_id}/transactions",
            {"referenceId": new_id(), "operations": [issue(treasury, 5)]},
            headers={"X-Request-Id": request_id},
        )
        assert reply.status == 202
        final = await api.final(ledger.project_id, reply.body["id"])
        headers = await copies.headers(final["id"])
    finally:
        await copies.close()
    assert final["status"] == "Completed"
    (applied,) = await applied_spans(traced.exporter, [final["id"]])
    assert applied.context is not None
    trace = trace_of(traced.exporter, applied.context.trace_id)
    assert sorted(trace, key=lambda kind: kind.value) == [
        SpanKind.SERVER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    ]
    (request,), (publish,), (apply,) = trace[SpanKind.SERVER], trace[SpanKind.PRODUCER], [applied]
    assert trace[SpanKind.CONSUMER] == [applied]
    assert request.context is not None
    assert publish.context is not None

    assert request.name == f"POST {SUBMIT_ROUTE}"
    assert request.attributes is not None
    assert request.attributes["http.route"] == SUBMIT_ROUTE
    assert request.attributes["http.response.status_code"] == 202
    assert request.attributes["cloudwallet.request_id"] == request_id
    assert ledger.project_id not in request.name
    assert parent_id(request) is None
    assert publish.name == "publish transaction"
    assert parent_id(publish) == request.context.span_id
    assert apply.name == "apply transaction"
    assert parent_id(apply) == publish.context.span_id
    assert apply.attributes is not None
    assert apply.attributes["cloudwallet.transaction.status"] == "Completed"
    assert apply.attributes["cloudwallet.partition"] == partition_of(
        ledger.project_id, traced.settings.partition_count
    )
    batch_size = apply.attributes["cloudwallet.batch.size"]
    assert isinstance(batch_size, int)
    assert batch_size >= 1
    # From when its batch began to after its commit: it holds the batch's instant, which the
    # transaction shows as its completedAt (to the millisecond).
    assert apply.start_time is not None
    assert apply.end_time is not None
    completed_ms = milliseconds(final["completedAt"])
    assert apply.start_time // 1_000_000 <= completed_ms <= apply.end_time // 1_000_000

    context = publish.context
    assert context.trace_flags.sampled
    traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert headers[TRACEPARENTS_HEADER] == traceparent
    assert headers[REQUEST_IDS_HEADER] == request_id


async def test_a_batch_requests_items_are_applied_under_its_one_publish(
    traced: Traced, http_session: aiohttp.ClientSession
) -> None:
    api = Api(http_session, traced.gateway_url, await create_tenant_key(traced.settings))
    ledger = await new_ledger(api)
    treasury = await ledger.system_wallet()
    items = [{"referenceId": new_id(), "operations": [issue(treasury, 1)]} for _ in range(3)]
    reply = await api.call(
        "POST", f"/projects/{ledger.project_id}/transactions/batch", {"transactions": items}
    )
    assert reply.status == 202
    ids = [item["body"]["id"] for item in reply.body["items"]]
    for transaction_id in ids:
        assert (await api.final(ledger.project_id, transaction_id))["status"] == "Completed"
    applied = await applied_spans(traced.exporter, ids)
    assert applied[0].context is not None
    trace = trace_of(traced.exporter, applied[0].context.trace_id)
    (request,), (publish,) = trace[SpanKind.SERVER], trace[SpanKind.PRODUCER]
    assert request.context is not None
    assert publish.context is not None
    assert request.name == f"POST {SUBMIT_ROUTE}/batch"
    assert publish.name == "publish transactions"
    assert parent_id(publish) == request.context.span_id
    assert sorted(span.context.span_id for span in trace[SpanKind.CONSUMER] if span.context) == (
        sorted(span.context.span_id for span in applied if span.context)
    )
    assert {parent_id(span) for span in applied} == {publish.context.span_id}


async def test_with_tracing_off_nothing_is_recorded_and_no_traceparent_sent(
    traced: Traced, api: Api, migrated: Settings
) -> None:
    assert migrated.tracing == "off"  # the suite's own gateway and worker (conftest.py)
    ledger = await new_ledger(api)
    treasury = await ledger.system_wallet()
    copies = await WatchedQueue.bind(
        migrated, TRANSACTIONS_EXCHANGE, partition_key(migrated, ledger.project_id)
    )
    request_id = f"untraced-{new_id()}"
    try:
        reply = await api.call(
            "POST",
            f"/projects/{ledger.project_id}/transactions",
            {"referenceId": new_id(), "operations": [issue(treasury, 5)]},
            headers={"X-Request-Id": request_id},
        )
        assert reply.status == 202
        final = await api.final(ledger.project_id, reply.body["id"])
        headers = await copies.headers(final["id"])
    finally:
        await copies.close()
    assert final["status"] == "Completed"
    assert headers == {REQUEST_IDS_HEADER: request_id}
    for span in traced.exporter.get_finished_spans():
        attributes = span.attributes or {}
        assert attributes.get("cloudwallet.transaction.id") != final["id"]
        assert attributes.get("cloudwallet.request_id") != request_id
