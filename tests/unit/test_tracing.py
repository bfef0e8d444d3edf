"""Traces (shared/tracing.py), without the services: off, there is no tracer; on, a request's
span is the parent of its publish's, whose traceparent makes the worker's span its child, all
read from OpenTelemetry's in-memory exporter; a traceparent that is not one makes no span; and
a process asked to trace without the exporter's package says so in one line and stops."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared import tracing
from shared.errors import ConfigurationError
from shared.settings import Settings

ON = Settings(tracing="console")


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.export_to(exporter)
    yield exporter
    tracing.stop()


def test_off_there_is_no_tracer() -> None:
    assert Settings().tracing == "off"
    assert tracing.tracer(Settings(), tracing.GATEWAY_SCOPE) is None


def test_a_request_its_publish_and_the_commit_make_one_trace(
    exported: InMemorySpanExporter,
) -> None:
    gateway = tracing.tracer(ON, tracing.GATEWAY_SCOPE)
    worker = tracing.tracer(ON, tracing.WORKER_SCOPE)
    assert gateway is not None
    assert worker is not None
    route = "/projects/{projectId}/transactions"
    with gateway.serving("POST", route, "req-1", {}) as request_span:
        with gateway.publishing("publish transaction", {"cloudwallet.transaction.id": "t1"}) as (
            traceparent
        ):
            pass
        gateway.answered(request_span, 202)
    began_ns = time.time_ns()
    worker.applied(traceparent, began_ns, {"cloudwallet.transaction.id": "t1"})
    worker.applied("00-not-a-traceparent-01", began_ns, {})

    server, producer, consumer = sorted(exported.get_finished_spans(), key=lambda s: s.kind.value)
    assert (server.kind, producer.kind, consumer.kind) == (
        SpanKind.SERVER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    )
    assert server.name == f"POST {route}"
    assert server.attributes == {
        "http.request.method": "POST",
        "http.route": route,
        "cloudwallet.request_id": "req-1",
        "http.response.status_code": 202,
    }
    assert server.status.status_code == StatusCode.UNSET
    assert server.parent is None
    assert producer.parent is not None
    assert producer.parent.span_id == server.context.span_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.start_time == began_ns
    assert consumer.end_time is not None
    assert consumer.end_time >= began_ns
    assert len({span.context.trace_id for span in (server, producer, consumer)}) == 1
    assert traceparent.split("-")[1] == f"{server.context.trace_id:032x}"
    assert consumer.name == "apply transaction"
    assert consumer.instrumentation_scope is not None
    assert consumer.instrumentation_scope.name == tracing.WORKER_SCOPE


def test_a_request_continues_its_clients_trace_and_a_5xx_fails_its_span(
    exported: InMemorySpanExporter,
) -> None:
    gateway = tracing.tracer(ON, tracing.GATEWAY_SCOPE)
    assert gateway is not None
    client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with gateway.serving("GET", "/ready", "req-2", {"traceparent": client}) as span:
        gateway.answered(span, 503)
    (server,) = exported.get_finished_spans()
    assert f"{server.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == "b7ad6b7169203331"
    assert server.status.status_code == StatusCode.ERROR


# The `dev` extra leaves the OTLP exporter out (pyproject.toml); with it installed, these two
# tests have nothing to check.
def otlp_installed() -> bool:
    try:
        return importlib.util.find_spec(OTLP_EXPORTER) is not None
    except ModuleNotFoundError:  # a package above it is missing
        return False


OTLP_EXPORTER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
without_otlp = pytest.mark.skipif(otlp_installed(), reason="the OTLP exporter is installed")


@without_otlp
def test_otlp_without_its_exporter_installed_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"pip install 'cloudwallet\[otlp\]'"):
        tracing.tracer(Settings(tracing="otlp"), tracing.WORKER_SCOPE)


@without_otlp
def test_a_worker_asked_for_otlp_without_its_exporter_says_so_in_one_line() -> None:
    environment = {**os.environ, "CLOUDWALLET_TRACING": "otlp"}
    finished = subprocess.run(
        [sys.executable, "-m", "shared.ops.cli", "worker"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 2
    (line,) = finished.stderr.splitlines()
    assert line.startswith("cloudwallet: CLOUDWALLET_TRACING=otlp needs opentelemetry")
    assert "Traceback" not in finished.stderr
