"""What every request leaves behind: its request id, its line in the access log and its
metrics, in the outermost middleware so that every answer, refusals included, is counted.

The request id is the client's `X-Request-Id` when it is sane (at most
`request_id_length_max` characters of [A-Za-z0-9._:-]), else a new one; it is echoed in the
answer's `X-Request-Id`, set as `shared.logs.REQUEST_ID` for every log line written while
the request is served, and published with its transactions (gateway/submission.py). The
access log's line names the method, the route template (never the path: ids stay out of
labels and logs alike), the status, the duration, the request id and the key id, never the
key's secret."""

from __future__ import annotations

import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.app_keys import ERROR_CODE, METRICS, REQUEST_ID, REQUEST_IDS, SETTINGS
from gateway.auth import KEY_ID
from gateway.metrics import UNMATCHED_ROUTE
from shared.ids import RequestIds
from shared.logs import REQUEST_ID as LOGGED_REQUEST_ID
from shared.logs import HotLog

ACCESS_LOG = HotLog("gateway.access")
REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]+")
# The single submit route, whose refusals count as refused submissions; the batch route counts
# its items itself (gateway/handlers/transaction_batches.py).
SUBMIT_ROUTE = ("POST", "/projects/{projectId}/transactions")


def request_id_of(request: web.Request, length_max: int, made: RequestIds) -> str:
    """The client's request id if it is sane, else a new one."""
    presented = request.headers.get(REQUEST_ID_HEADER)
    if presented and len(presented) <= length_max and _SAFE_REQUEST_ID.fullmatch(presented):
        return presented
    return made.new()


def route_of(request: web.Request) -> str:
    """The template of the route that served the request (`unmatched` for none)."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started_s = time.perf_counter()
    app = request.app
    settings = app[SETTINGS]
    request_id = request[REQUEST_ID] = request_id_of(
        request, settings.request_id_length_max, app[REQUEST_IDS]
    )
    LOGGED_REQUEST_ID.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as error:  # a redirect or success raised (errors_middleware)
        error.headers[REQUEST_ID_HEADER] = request_id
        _record(request, error.status, started_s)
        raise
    response.headers[REQUEST_ID_HEADER] = request_id
    _record(request, response.status, started_s)
    return response


def _record(request: web.Request, status: int, started_s: float) -> None:
    duration_s = time.perf_counter() - started_s
    method, route = request.method, route_of(request)
    metrics = request.app[METRICS]
    metrics.request(method, route, status, duration_s)
    if (method, route) == SUBMIT_ROUTE:
        metrics.submitted(None if status == 202 else request.get(ERROR_CODE, str(status)))
    if request.app[SETTINGS].access_log and ACCESS_LOG.enabled():
        key_id = request.get(KEY_ID)
        duration_ms = round(duration_s * 1000, 3)
        ACCESS_LOG.info(
            f"{method} {route} {status} {duration_ms:.3f}ms key={key_id or '-'}",
            request[REQUEST_ID],
            {
                "method": method,
                "route": route,
                "status": status,
                "durationMs": duration_ms,
                "keyId": key_id,
            },
        )
