"""The gateway application, built by a factory: one cleanup context per resource."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.app_keys import (
    AUTHENTICATOR,
    DATABASE,
    KEY_NOTICES,
    PUBLISHER,
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
from gateway.duplicates import Duplicates
from gateway.limits import SubmissionLimits
from gateway.middleware import auth_middleware, errors_middleware
from gateway.oauth import Tokens
from gateway.rate_limits import RateLimiter, add_rate_limit_headers
from gateway.references import AppliedReferences
from gateway.routes import add_routes
from gateway.states import TransactionStates
from gateway.submission import Submitter
from shared.amqp.publisher import Publisher
from shared.database import check_deployment, create_pool
from shared.redis.access import KeyNotices, RateBuckets
from shared.redis.status_cache import StatusCache
from shared.settings import Settings

log = logging.getLogger(__name__)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = await create_pool(
        settings,
        application_name="cloudwallet-gateway",
        command_timeout_ms=settings.database_query_timeout_ms,
        statement_timeout_ms=settings.database_query_timeout_ms,
    )
    try:
        async with pool.acquire() as connection:
            await check_deployment(connection, settings)
    except BaseException:
        await pool.close()
        raise
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
    await authenticator.close()
    await pool.close()


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
    cache = StatusCache.open(app[SETTINGS])
    app[STATUS_CACHE] = cache
    yield
    await cache.close()


async def _publisher(app: web.Application) -> AsyncIterator[None]:
    publisher = await Publisher.open(app[SETTINGS], name="cloudwallet-gateway")
    app[PUBLISHER] = publisher
    yield
    await publisher.close()


async def _submitter(app: web.Application) -> AsyncIterator[None]:
    settings, cache, database = app[SETTINGS], app[STATUS_CACHE], app[DATABASE]
    states = app[TRANSACTION_STATES] = TransactionStates(cache, database)
    references = AppliedReferences(settings)
    app[SUBMITTER] = Submitter(
        settings, cache, app[PUBLISHER], references, Duplicates(settings, cache, states)
    )
    yield
    await references.close()


def create_app(settings: Settings) -> web.Application:
    """The gateway with its routes, middlewares and resources; nothing connects until startup."""
    app = web.Application(
        middlewares=[errors_middleware, auth_middleware],
        client_max_size=settings.request_body_bytes_max,
    )
    app[SETTINGS] = settings
    app[SUBMISSION_LIMITS] = SubmissionLimits(settings)
    app.cleanup_ctx.extend([_database, _access, _status_cache, _publisher, _submitter])
    app.on_response_prepare.append(add_rate_limit_headers)
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
        await site.start()
        log.info("gateway listening on http://%s:%s", settings.http_host, settings.http_port)
        await stop.wait()
    finally:
        await runner.cleanup()


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
