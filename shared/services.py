"""The three services every process needs (PostgreSQL, Redis, RabbitMQ): how a process names
one it cannot reach, waits for one that is down at start, and says whether each answers now
(`/ready`).

A process starts even while a service is down: it says so in one line naming the service,
its address and how to start it, tries again every `dependency_retry_ms`, and `/ready`
answers 503 naming the service until it answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar
from urllib.parse import urlsplit

import aiormq.exceptions
import asyncpg
import redis.exceptions

from shared.database import CONNECTION_ERRORS
from shared.errors import BrokerUnavailable, CacheUnavailable, CloudwalletError, DatabaseUnavailable
from shared.redis.status_cache import StatusCache

log = logging.getLogger(__name__)
POSTGRESQL, REDIS, RABBITMQ = "postgresql", "redis", "rabbitmq"
SERVICE_NAMES = {POSTGRESQL: "PostgreSQL", REDIS: "Redis", RABBITMQ: "RabbitMQ"}
START_HINT = (
    "start it (`docker compose -f docker-compose.services.yml up -d`, or the Debian package's"
    " service: README.md, Quickstart)"
)
# What a service that is down, refusing or stalled looks like through each client library.
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    aiormq.exceptions.AMQPConnectionError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# What a probe may meet besides an unreachable service: an error PostgreSQL answers with, or one
# of ours (a publisher not connected yet).
ANSWER_ERRORS: tuple[type[BaseException], ...] = (
    *UNREACHABLE_ERRORS,
    asyncpg.PostgresError,
    CloudwalletError,
)
Result = TypeVar("Result")


class ServiceUnreachable(CloudwalletError):
    """A command could not reach a service; the message names it, its address and the cause."""

    def __init__(self, service: str, url: str, error: BaseException) -> None:
        super().__init__(unreachable_line(service, url, error))
        self.service = service


class PortTaken(OSError):
    """A server could not listen on its address (an OSError, as the error it replaces)."""

    def __init__(self, what: str, host: str, port: int, error: OSError, setting: str) -> None:
        reason = os.strerror(error.errno) if error.errno else str(error)
        super().__init__(
            f"{what} cannot listen on {host}:{port} ({reason}): stop what holds the port, or"
            f" set {setting} to another one"
        )


def address_of(url: str) -> str:
    """A service URL's host and port, without its credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


def unreachable_line(service: str, url: str, error: BaseException) -> str:
    """One line: which service, where, why, and how to start it."""
    reason = str(error) or type(error).__name__
    return f"cannot reach {SERVICE_NAMES[service]} at {address_of(url)} ({reason}); {START_HINT}"


@contextlib.contextmanager
def reaching(service: str, url: str) -> Iterator[None]:
    """Translate a client library's error for an unreachable service into ServiceUnreachable."""
    try:
        yield
    except UNREACHABLE_ERRORS as error:
        raise ServiceUnreachable(service, url, error) from None


async def until_reached(
    service: str,
    url: str,
    attempt: Callable[[], Awaitable[Result]],
    stop: asyncio.Event,
    retry_ms: int,
) -> Result | None:
    """`attempt()`'s result once the service answers; None if `stop` is set first. While it
    does not, one line is logged at the first failure (and when the reason changes), and the
    next attempt comes `retry_ms` later: the loop is bounded by `stop`, which a signal sets."""
    said: str | None = None
    while not stop.is_set():
        try:
            with reaching(service, url):
                result = await attempt()
        except ServiceUnreachable as error:
            if str(error) != said:
                said = str(error)
                log.warning("%s; trying again every %s ms", error, retry_ms)
        else:
            if said is not None:
                log.info("%s answers at %s", SERVICE_NAMES[service], address_of(url))
            return result
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=retry_ms / 1000)
    return None


async def reported(work: Awaitable[object]) -> None:
    """Run background work that reaches a service; an error no retry mends (a refused
    password, say) ends it with one line, rather than as an error nobody retrieves."""
    try:
        await work
    except ANSWER_ERRORS as error:
        log.error("a service cannot be used: %s: %s", type(error).__name__, error)


Probe = Callable[[], Awaitable[None]]


async def readiness(probes: dict[str, Probe], timeout_ms: int) -> dict[str, str]:
    """Each service's answer to its probe, at once: `ok`, or why not (its error, or that it
    did not answer within `timeout_ms`)."""

    async def answer(probe: Probe) -> str:
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                await probe()
        except TimeoutError:
            return f"no answer within {timeout_ms} ms"
        except ANSWER_ERRORS as error:
            return f"{type(error).__name__}: {error}".rstrip(": ")
        return "ok"

    answers = await asyncio.gather(*(answer(probe) for probe in probes.values()))
    return dict(zip(probes, answers, strict=True))


class Reached:
    """What a process has reached of its three services, and whether each answers now
    (`readiness`, for /ready): the gateway's `Dependencies` and the worker's `Monitor` are
    ones, each knowing its own broker connection (`broker_connected`)."""

    def __init__(self, process: str, ready_timeout_ms: int) -> None:
        self.process = process
        self.pool: asyncpg.Pool | None = None
        self.cache: StatusCache | None = None
        self.deployment_checked = False
        self.deployment_problem: str | None = None  # a mismatch found after the start
        self._ready_timeout_ms = ready_timeout_ms

    def broker_connected(self) -> bool | None:
        """Whether the broker connection is up now; None before it was first opened."""
        return None

    async def readiness(self) -> dict[str, str]:
        """Each service's answer now (`ok` or why not), within `ready_timeout_ms`."""
        probes: dict[str, Probe] = {
            POSTGRESQL: self._probe_database,
            REDIS: self._probe_cache,
            RABBITMQ: self._probe_broker,
        }
        return await readiness(probes, self._ready_timeout_ms)

    async def _probe_database(self) -> None:
        if self.pool is None:
            raise DatabaseUnavailable("no connection pool yet")
        async with self.pool.acquire() as connection:
            await connection.fetchval("SELECT 1")
        if not self.deployment_checked:
            raise DatabaseUnavailable(
                self.deployment_problem or "the deployment is not checked yet"
            )

    async def _probe_cache(self) -> None:
        if self.cache is None:
            raise CacheUnavailable("no Redis client yet")
        await self.cache.ping()

    async def _probe_broker(self) -> None:
        connected = self.broker_connected()
        if connected is None:
            raise BrokerUnavailable(f"not connected since the {self.process} started")
        if not connected:
            raise BrokerUnavailable("the connection is lost; reconnecting")


def unready_message(services: dict[str, str]) -> str | None:
    """The 503's message naming each service that did not answer, or None if all did."""
    missing = [
        f"{SERVICE_NAMES[name]} ({answer})" for name, answer in services.items() if answer != "ok"
    ]
    return f"not ready: {', '.join(missing)}" if missing else None
