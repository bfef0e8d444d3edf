"""The gateway application, built by a factory: one cleanup context per resource."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from gateway.access import ACCESS, Access, access_middleware
from gateway.app_keys import (
    AUTHENTICATOR,
    DATABASE,
    DEPENDENCIES,
    KEY_NOTICES,
    METRICS,
    RATE_LIMITER,
    SETTINGS,
    STATUS_CACHE,
    SUBMISSION_LIMITS,
    SUBMITTER,
    TOKENS,
    TRANSACTION_STATES,
)
from gateway.auth import Authenticator
from gateway.db import Database
from gateway.dependencies import Dependencies
from gateway.duplicates import Duplicates
from gateway.limits import SubmissionLimits
from gateway.metrics import GatewayMetrics
from gateway.middleware import auth_middleware, errors_middleware
from gateway.oauth import Tokens
from gateway.rate_limits import RateLimiter
from gateway.references import AppliedReferences
from gateway.routes import add_routes
from gateway.states import TransactionStates
from gateway.submission import Submitter
from shared.amqp.publisher import Publisher
from shared.database import DeploymentMismatch, check_deployment, create_pool, database_url
from shared.logs import flush_hot_logs
from shared.redis.access import KeyNotices, RateBuckets
from shared.redis.status_cache import StatusCache
from shared.services import (
    POSTGRESQL,
    RABBITMQ,
    REDIS,
    UNREACHABLE_ERRORS,
    PortTaken,
    Probe,
    until_reached,
)
from shared.settings import Settings
from shared.tracing import GATEWAY_SCOPE, tracer

log = logging.getLogger(__name__)


async def _database(app: web.Application) -> AsyncIterator[None]:
    """The pool, checked against the deployment. PostgreSQL down at start is no reason not to
    start (shared/services.py): the pool then opens empty, and the deployment is checked in
    the background once PostgreSQL answers; submissions wait for that check."""
    settings, dependencies = app[SETTINGS], app[DEPENDENCIES]
    try:
        pool = await _pool(settings, size_min=1)
    except UNREACHABLE_ERRORS:  # said in one line by the background check
        pool = await _pool(settings, size_min=0)
        dependencies.start(_check_deployment_once_reached(settings, pool, dependencies))
    else:
        try:
            async with pool.acquire() as connection:
                await check_deployment(connection, settings)
        except BaseException:
            await pool.close()
            raise
        dependencies.deployment_checked = True
    dependencies.pool = pool
    database = Database(
        pool,
        query_timeout_ms=settings.database_query_timeout_ms,
        release_timeout_min_ms=settings.database_release_timeout_min_ms,
    )
    app[DATABASE] = database
    tokens = app[TOKENS] = Tokens(database, settings)
    await tokens.load()
    authenticator = app[AUTHENTICATOR] = Authenticator(database, settings, tokens)
    yield
    await dependencies.close()
    await authenticator.close()
    await pool.close()


async def _pool(settings: Settings, *, size_min: int) -> asyncpg.Pool:
    """The gateway's pool with `size_min` connections opened (0: none until one is used)."""
    return await create_pool(
        settings,
        size_min=size_min,
        application_name="cloudwallet-gateway",
        command_timeout_ms=settings.database_query_timeout_ms,
        statement_timeout_ms=settings.database_query_timeout_ms,
    )


async def _check_deployment_once_reached(
    settings: Settings, pool: asyncpg.Pool, dependencies: Dependencies
) -> None:
    async def check() -> bool:
        async with pool.acquire() as connection:
            await check_deployment(connection, settings)
        return True

    try:
        reached = await until_reached(
            POSTGRESQL, database_url(settings), check, asyncio.Event(), settings.dependency_retry_ms
        )
    except DeploymentMismatch as error:
        log.error("%s: the gateway refuses every submission", error)
        dependencies.deployment_problem = str(error)
        return
    dependencies.deployment_checked = bool(reached)


async def _access(app: web.Application) -> AsyncIterator[None]:
    """The rate limits' buckets and the revocation notices (gateway/rate_limits.py,
    gateway/handlers/keys.py), and the task following the notices for the authenticator."""
    settings, authenticator = app[SETTINGS], app[AUTHENTICATOR]
    url, timeout_s = settings.redis_url.get_secret_value(), settings.redis_timeout_ms / 1000
    buckets = RateBuckets.open(settings)
    app[RATE_LIMITER] = RateLimiter(buckets, settings)
    notices = app[KEY_NOTICES] = KeyNotices(url, timeout_s=timeout_s)
    following = asyncio.create_task(
        notices.follow(
            authenticator.forget_key,
            authenticator.forget_all_keys,
            retry_ms=settings.auth_revocations_retry_ms,
        )
    )
    yield
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await notices.close()
    await buckets.close()


async def _status_cache(app: web.Application) -> AsyncIterator[None]:
    """The status cache, which connects on first use; a Redis that does not answer at start is
    said in one line (submissions answer 503 until it does, reads fall back to PostgreSQL)."""
    settings, dependencies = app[SETTINGS], app[DEPENDENCIES]
    cache = StatusCache.open(settings)
    app[STATUS_CACHE] = dependencies.cache = cache
    redis_url = settings.redis_url.get_secret_value()
    retry_ms = settings.dependency_retry_ms
    dependencies.start(_reached(REDIS, redis_url, cache.ping, retry_ms))
    yield
    await dependencies.close()
    await cache.close()


async def _reached(service: str, url: str, attempt: Probe, retry_ms: int) -> None:
    await until_reached(service, url, attempt, asyncio.Event(), retry_ms)


async def _publisher(app: web.Application) -> AsyncIterator[None]:
    """The publisher; a broker down at start is reached in the background (submissions answer
    503 until then)."""
    settings, dependencies = app[SETTINGS], app[DEPENDENCIES]
    try:
        dependencies.publisher = await Publisher.open(settings, name="cloudwallet-gateway")
    except UNREACHABLE_ERRORS:  # said in one line by the background attempts
        dependencies.start(_open_publisher_once_reached(settings, dependencies))
    yield
    await dependencies.close()
    if dependencies.publisher is not None:
        await dependencies.publisher.close()


async def _open_publisher_once_reached(settings: Settings, dependencies: Dependencies) -> None:
    async def open_publisher() -> Publisher:
        return await Publisher.open(settings, name="cloudwallet-gateway")

    url, retry_ms = settings.amqp_url.get_secret_value(), settings.dependency_retry_ms
    try:
        publisher = await until_reached(RABBITMQ, url, open_publisher, asyncio.Event(), retry_ms)
    except DeploymentMismatch as error:  # the partition queues were declared otherwise
        log.error("%s: the gateway refuses every submission", error)
        return
    dependencies.publisher = publisher


async def _submitter(app: web.Application) -> AsyncIterator[None]:
    settings, cache, database = app[SETTINGS], app[STATUS_CACHE], app[DATABASE]
    states = app[TRANSACTION_STATES] = TransactionStates(cache, database)
    references = AppliedReferences(settings)
    app[SUBMITTER] = Submitter(
        settings,
        cache,
        None,
        references,
        Duplicates(settings, cache, states),
        app[DEPENDENCIES],
        app[ACCESS].tracer,
    )
    yield
    await references.close()


def create_app(settings: Settings) -> web.Application:
    """The gateway with its routes, middlewares and resources; nothing connects until startup.
    ConfigurationError if tracing is asked for without its packages (shared/tracing.py)."""
    app = web.Application(
        middlewares=[access_middleware, errors_middleware, auth_middleware],
        client_max_size=settings.request_body_bytes_max,
    )
    app[SETTINGS] = settings
    metrics = app[METRICS] = GatewayMetrics()
    app[ACCESS] = Access(settings, metrics, tracer(settings, GATEWAY_SCOPE))
    app[DEPENDENCIES] = Dependencies(
        retry_after_s=settings.retry_after_s, ready_timeout_ms=settings.ready_timeout_ms
    )
    app[SUBMISSION_LIMITS] = SubmissionLimits(settings)
    app.cleanup_ctx.extend([_database, _access, _status_cache, _publisher, _submitter])
    add_routes(app, settings)
    return app


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then stop accepting and finish in-flight requests (for up
    to `http_shutdown_timeout_s`) before closing the connections to the services."""
    runner = web.AppRunner(
        create_app(settings), access_log=None, shutdown_timeout=settings.http_shutdown_timeout_s
    )
    await runner.setup()
    try:  # a port it cannot bind, too, closes what the start-up opened
        tune_garbage_collector(settings)
        site = web.TCPSite(
            runner, settings.http_host, settings.http_port, reuse_port=settings.http_reuse_port
        )
        try:
            await site.start()
        except OSError as error:
            raise PortTaken(
                "the gateway",
                settings.http_host,
                settings.http_port,
                error,
                "CLOUDWALLET_HTTP_PORT",
            ) from None
        log.info("gateway listening on http://%s:%s", settings.http_host, settings.http_port)
        await stop.wait()
    finally:
        await runner.cleanup()
        flush_hot_logs()


def tune_garbage_collector(settings: Settings) -> None:
    """Make the cyclic garbage collector cheap per request. Every young collection walks the
    objects of all the requests in flight, and every full one the tens of thousands of objects
    made at start-up (modules, models, routes): with the defaults it took a fifth of the
    gateway's CPU under load. The start-up objects live as long as the process, so they are
    frozen (never walked again), and young collections are made rarer: one every
    `gateway_gc_threshold_allocations` net allocations (0 keeps Python's threshold)."""
    gc.collect()
    gc.freeze()
    if settings.gateway_gc_threshold_allocations:
        _, *older = gc.get_threshold()
        gc.set_threshold(settings.gateway_gc_threshold_allocations, *older)


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
