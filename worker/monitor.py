"""What a worker shows its operator over HTTP, at `worker_metrics_host:worker_metrics_port`:
`/metrics` (worker/metrics.py), `/health` (liveness) and `/ready` (PostgreSQL, Redis and the
broker answer, as the gateway's: shared/services.py). A port already taken is logged in one
line and the worker runs without them: several workers may share a machine.

The gauges read from outside (the queue depths of the partitions this process writes, the
dead-letter queue, the events outbox) are refreshed every `metrics_refresh_ms`; a service
that cannot answer leaves them as they were."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import orjson
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from shared.amqp import broker
from shared.contract.partition import queue_name
from shared.metrics import CONTENT_TYPE, exposition
from shared.services import ANSWER_ERRORS, Reached, unready_message
from shared.settings import Settings
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)
OUTBOX_BACKLOG = "SELECT coalesce(sum(cardinality(transaction_ids)), 0)::bigint FROM event_outbox"
WEBHOOK_BACKLOG = """
SELECT (SELECT coalesce(sum(cardinality(transaction_ids)), 0) FROM webhook_outbox)::bigint,
       (SELECT count(*) FROM webhook_deliveries)::bigint
"""


class Monitor(Reached):
    """The worker's services as reached so far, its readiness, metrics and their server."""

    def __init__(self, settings: Settings, metrics: WorkerMetrics) -> None:
        super().__init__("worker", settings.ready_timeout_ms)
        self.settings = settings
        self.metrics = metrics
        self.connection: AbstractRobustConnection | None = None
        self.partitions: Callable[[], frozenset[int]] = frozenset

    def broker_connected(self) -> bool | None:
        connection = self.connection
        return None if connection is None else connection.connected.is_set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Serve /metrics, /health and /ready while the block runs (not at all with port 0)."""
        settings = self.settings
        if not settings.worker_metrics_port:
            yield
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", _health)
        app.router.add_get("/ready", self._ready)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.worker_metrics_host, settings.worker_metrics_port)
            try:
                await site.start()
            except OSError as error:
                log.warning(
                    "the worker's /metrics and /ready cannot listen on %s:%s (%s): set"
                    " CLOUDWALLET_WORKER_METRICS_PORT to a free port; the worker runs without them",
                    settings.worker_metrics_host,
                    settings.worker_metrics_port,
                    error.strerror or error,
                )
            yield
        finally:
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=exposition(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE}
        )

    async def _ready(self, request: web.Request) -> web.Response:
        services = await self.readiness()
        missing = unready_message(services)
        if missing is None:
            return _json({"status": "ready", "services": services}, 200)
        error = {"code": "NotReady", "message": missing, "details": {"services": services}}
        return _json({"error": error}, 503)

    async def refresh(self, stop: asyncio.Event) -> None:
        """Refresh the gauges read from outside every `metrics_refresh_ms` until `stop`."""
        interval_s = self.settings.metrics_refresh_ms / 1000
        while not stop.is_set():
            try:
                async with asyncio.timeout(interval_s):
                    await self._refresh_once()
            except ANSWER_ERRORS:
                pass  # a service away: /ready says so, and the gauges keep their last values
            except Exception as error:
                # Gauges only, never the ledger: aiormq refuses a channel on a connection that
                # is reconnecting with a bare RuntimeError, and no such error is to end this
                # loop, which would then raise it when the worker stops.
                log.warning("worker metrics not refreshed: %s: %s", type(error).__name__, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def _refresh_once(self) -> None:
        if self.pool is not None and self.deployment_checked:
            async with self.pool.acquire() as database_connection:
                backlog = await database_connection.fetchval(OUTBOX_BACKLOG)
                webhooks = await database_connection.fetchrow(WEBHOOK_BACKLOG)
            self.metrics.outbox_backlog.set(backlog)
            if webhooks is not None:
                self.metrics.webhook_outbox_backlog.set(webhooks[0])
                self.metrics.webhook_deliveries_pending.set(webhooks[1])
        connection = self.connection
        if connection is None or not connection.connected.is_set():
            return
        with broker.broker_errors():
            channel = await connection.channel()
            try:
                underlay = await broker.underlying_channel(channel)
                dead = await underlay.queue_declare(broker.DEAD_LETTER_QUEUE, passive=True)
                self.metrics.dead_letters.set(int(dead.message_count or 0))
                self.metrics.queue_depth.clear()
                for partition in sorted(self.partitions()):
                    declared = await underlay.queue_declare(queue_name(partition), passive=True)
                    depth = int(declared.message_count or 0)
                    self.metrics.queue_depth.labels(str(partition)).set(depth)
            finally:
                await channel.close()


async def _health(request: web.Request) -> web.Response:
    return _json({"status": "ok"}, 200)


def _json(body: object, status: int) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
