"""Optional OpenTelemetry traces (docs/decisions/0025-traces.md). One trace follows a
transaction from its HTTP request (a SERVER span per request: gateway/access.py) through its
publish (a PRODUCER span, whose W3C traceparent travels with the transaction in the message's
`cloudwallet-traceparents` header: gateway/submission.py, shared/contract/headers.py) to its
commit (a CONSUMER span per transaction: worker/committer.py).

Off unless `tracing` is set: `tracer` then answers None, which the gateway and the worker test
once per request or batch, and OpenTelemetry is never imported. On, the process has one
TracerProvider of its own, made on first use (never OpenTelemetry's global one, which another
library of the process could set or read); `export_to` replaces it, for the tests'
InMemorySpanExporter. Sampling is OpenTelemetry's: `OTEL_TRACES_SAMPLER` (by default every
trace), and `OTEL_SERVICE_NAME` names the process (by default `cloudwallet`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shared.errors import ConfigurationError
from shared.settings import Settings

if TYPE_CHECKING:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.util.types import AttributeValue

GATEWAY_SCOPE = "cloudwallet.gateway"
WORKER_SCOPE = "cloudwallet.worker"
SERVICE_NAME = "cloudwallet"
TRACEPARENT = "traceparent"  # the W3C header, in HTTP and in the propagator's carrier
_PROCESS: dict[str, TracerProvider] = {}  # the process's provider, under "provider"


class Tracer:
    """The spans the gateway and the worker make, over an OpenTelemetry tracer."""

    __slots__ = ("_kind", "_propagator", "_status", "_trace", "_tracer")

    def __init__(self, tracer: trace.Tracer) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._tracer = tracer
        self._trace = trace
        self._kind = trace.SpanKind
        self._status = trace.StatusCode
        self._propagator = TraceContextTextMapPropagator()

    @contextmanager
    def serving(
        self, method: str, route: str, request_id: str, headers: Mapping[str, str]
    ) -> Iterator[trace.Span]:
        """A request's SERVER span, current while it is served: named by its method and route
        template (never its path), in the client's trace if it sent a `traceparent`."""
        parent = self._propagator.extract(headers) if TRACEPARENT in headers else None
        attributes: dict[str, AttributeValue] = {
            "http.request.method": method,
            "http.route": route,
            "cloudwallet.request_id": request_id,
        }
        with self._tracer.start_as_current_span(
            f"{method} {route}",
            context=parent,
            kind=self._kind.SERVER,
            attributes=attributes,
            record_exception=False,  # an answer raised (errors_middleware) is no failure
            set_status_on_exception=False,
        ) as span:
            yield span

    def answered(self, span: trace.Span, status: int) -> None:
        """Record the request's HTTP status; a 5xx marks the span failed."""
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self._status.ERROR)

    @contextmanager
    def publishing(self, name: str, attributes: dict[str, AttributeValue]) -> Iterator[str]:
        """A PRODUCER span around a publish, child of the current span (the request's); yields
        its traceparent, which the message carries to the worker."""
        attributes["messaging.system"] = "rabbitmq"
        with self._tracer.start_as_current_span(
            name, kind=self._kind.PRODUCER, attributes=attributes
        ):
            carrier: dict[str, str] = {}
            self._propagator.inject(carrier)
            yield carrier[TRACEPARENT]

    def applied(
        self, traceparent: str, started_ns: int, attributes: dict[str, AttributeValue]
    ) -> None:
        """A committed transaction's CONSUMER span, child of its publish, from `started_ns`
        (when its batch began) to now; nothing for a traceparent that is not one."""
        parent = self._propagator.extract({TRACEPARENT: traceparent})
        if not self._trace.get_current_span(parent).get_span_context().is_valid:
            return
        attributes["messaging.system"] = "rabbitmq"
        self._tracer.start_span(
            "apply transaction",
            context=parent,
            kind=self._kind.CONSUMER,
            attributes=attributes,
            start_time=started_ns,
        ).end()


def tracer(settings: Settings, scope: str) -> Tracer | None:
    """The tracer of a part of the process (GATEWAY_SCOPE, WORKER_SCOPE), or None when tracing
    is off. The first call makes the process's provider; ConfigurationError (one line) if the
    packages tracing needs are not installed."""
    if settings.tracing == "off":
        return None
    provider = _PROCESS.get("provider") or _start(settings)
    return Tracer(provider.get_tracer(scope))


def export_to(exporter: SpanExporter) -> None:
    """Send every span of the tracers made from now on to `exporter`, each as it ends, instead
    of to the configured exporter (the tests' InMemorySpanExporter; tracing must be on)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    stop()
    _PROCESS["provider"] = _provider(SimpleSpanProcessor(exporter))


def stop() -> None:
    """Export what is left and forget the process's provider (it is also done at exit)."""
    provider = _PROCESS.pop("provider", None)
    if provider is not None:
        provider.shutdown()


def _start(settings: Settings) -> TracerProvider:
    extra = "otlp" if settings.tracing == "otlp" else "tracing"
    try:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        exporter = ConsoleSpanExporter() if settings.tracing == "console" else _otlp(settings)
    except ImportError as error:
        raise ConfigurationError(
            f"CLOUDWALLET_TRACING={settings.tracing} needs {error.name}, which is not"
            f" installed: pip install 'cloudwallet[{extra}]', or set CLOUDWALLET_TRACING=off"
        ) from None
    provider = _PROCESS["provider"] = _provider(BatchSpanProcessor(exporter))
    return provider


def _otlp(settings: Settings) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter: SpanExporter = OTLPSpanExporter(endpoint=settings.tracing_otlp_endpoint)
    return exporter


def _provider(processor: SpanProcessor) -> TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(processor)
    return provider
