"""What every request leaves behind: its request id, its line in the access log and its metrics, in
the outermost middleware so that every answer, refusals included, is counted.

It also sets the answer's RateLimit headers (gateway/rate_limits.py). The request id is the
client's `X-Request-Id` when it is sane (at most `request_id_length_max` characters of
[A-Za-z0-9._:-]), else a new one; it is echoed in the answer's `X-Request-Id`, set as
`shared.logs.REQUEST_ID` for every log line written while the request is served, and published
with its transactions (gateway/submission.py). The access log's line names the method, the route
template (never the path: ids stay out of labels and logs alike), the status, the duration, the
request id and the key id, never the key's secret. This runs for every request: what it needs of
the application is looked up once (`Access`), and its line costs a few microseconds
(docs/decisions/0020-operating-signals.md). With tracing on, the request is served within a span
of its own (shared/tracing.py, docs/decisions/0025-traces.md)."""

from __future__ import annotations

import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.app_keys import ERROR_CODE, REQUEST_ID
from gateway.auth import KEY_ID
from gateway.metrics import UNMATCHED_ROUTE, GatewayMetrics
from gateway.rate_limits import add_rate_limit_headers
from shared.ids import RequestIds
from shared.logs import REQUEST_ID as LOGGED_REQUEST_ID
from shared.logs import HotLog
from shared.settings import Settings
from shared.tracing import Tracer

ACCESS_LOG = HotLog("gateway.access")
REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]+")
# The single submit route, whose refusals count as refused submissions; the batch route counts
# its items itself (gateway/handlers/transaction_batches.py).
SUBMIT_METHOD, SUBMIT_ROUTE = "POST", "/projects/{projectId}/transactions"


class Access:
    """What the middleware needs of the application: the metrics, the request ids it makes,
    the settings it reads, and the tracer when tracing is on (shared/tracing.py)."""

    __slots__ = ("access_log", "length_max", "metrics", "request_ids", "tracer")

    def __init__(
        self, settings: Settings, metrics: GatewayMetrics, tracer: Tracer | None = None
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.request_ids = RequestIds()
        self.length_max = settings.request_id_length_max
        self.access_log = settings.access_log


ACCESS = web.AppKey("access", Access)


def request_id_of(request: web.Request, length_max: int, made: RequestIds) -> str:
    """The client's request id if it is sane, else a new one."""
    presented = request.headers.get(REQUEST_ID_HEADER)
    if presented and len(presented) <= length_max and _SAFE_REQUEST_ID.fullmatch(presented):
        return presented
    return made.new()


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started_s = time.perf_counter()
    access = request.app[ACCESS]
    request_id = request[REQUEST_ID] = request_id_of(request, access.length_max, access.request_ids)
    LOGGED_REQUEST_ID.set(request_id)
    try:
        if access.tracer is None:
            response = await handler(request)
        else:
            response = await _traced(access.tracer, request, handler, request_id)
    except web.HTTPException as error:  # a redirect or success raised (errors_middleware)
        error.headers[REQUEST_ID_HEADER] = request_id
        add_rate_limit_headers(request, error.headers)
        _record(access, request, request_id, error.status, started_s)
        raise
    response.headers[REQUEST_ID_HEADER] = request_id
    add_rate_limit_headers(request, response.headers)
    _record(access, request, request_id, response.status, started_s)
    return response


async def _traced(
    tracer: Tracer, request: web.Request, handler: Handler, request_id: str
) -> web.StreamResponse:
    """The handler's answer, within the request's SERVER span."""
    with tracer.serving(request.method, _route(request), request_id, request.headers) as span:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            tracer.answered(span, error.status)
            raise
        tracer.answered(span, response.status)
        return response


def _route(request: web.Request) -> str:
    """The request's route template (never its path), or UNMATCHED_ROUTE."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


def _record(
    access: Access, request: web.Request, request_id: str, status: int, started_s: float
) -> None:
    duration_s = time.perf_counter() - started_s
    resource = request.match_info.route.resource  # as `_route`, without a call per request
    route = UNMATCHED_ROUTE if resource is None else resource.canonical
    method = request.method
    access.metrics.request(method, route, status, duration_s)
    if route == SUBMIT_ROUTE and method == SUBMIT_METHOD:
        access.metrics.submitted(None if status == 202 else request.get(ERROR_CODE, str(status)))
    if access.access_log and ACCESS_LOG.enabled():
        key_id = request.get(KEY_ID)
        duration_ms = duration_s * 1000
        message = f"{method} {route} {status} {duration_ms:.3f}ms key={key_id or '-'}"
        if ACCESS_LOG.wants_fields():
            fields = {
                "method": method,
                "route": route,
                "status": status,
                "durationMs": round(duration_ms, 3),
                "keyId": key_id,
            }
            ACCESS_LOG.info(message, request_id, fields)
        else:
            ACCESS_LOG.info(message, request_id)
