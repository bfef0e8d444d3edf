"""The right to write one partition: a session advisory lock, held on one dedicated
connection, which is the only connection the partition's writer writes with.

Whoever holds the lock is the partition's one writer, whatever any process believes about the
assignment. The lock dies with its session: at once when the process dies, and within
`lease_idle_session_timeout_ms` when the process is paused (SIGSTOP, a long GC, a frozen VM),
because a live lease pings its session every heartbeat and PostgreSQL ends sessions idle for
longer. A writer that lost its session never writes again on another one without taking the
lock afresh, and every batch also takes the same key as a transaction lock
(`store.partition_transaction`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import asyncpg

from shared.contract.partition import PARTITION_LOCK_SPACE
from shared.database import CONNECTION_ERRORS, TRANSIENT_ERRORS, Connection, connect
from shared.settings import Settings

log = logging.getLogger(__name__)


class LeaseUnavailable(Exception):
    """The partition's lock is not held right now (lost with its session, or held by another
    writer); the writer backs off and tries again, as for any database outage."""


# The transient database errors of every process (shared/database.py), and a lease lost: what
# the writer does with the database is tried again after a backoff. When the connection broke
# mid-transaction the outcome is unknown, and the retry finds out under the partition lock.
TRANSIENT_DATABASE_ERRORS = (*TRANSIENT_ERRORS, LeaseUnavailable)


class Lease(Protocol):
    """Where the writer gets the connection it writes with: a PartitionLease (a test may give
    one session of its own)."""

    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...


class PartitionLease:
    """One partition's lock and the session that holds it."""

    def __init__(self, settings: Settings, partition: int, worker_id: str) -> None:
        self.partition = partition
        self._settings = settings
        self._application_name = f"cloudwallet-writer:{worker_id}"
        self._session: asyncpg.Connection | None = None
        self._held = False
        self._in_use = asyncio.Lock()

    async def take(self, stop: asyncio.Event) -> bool:
        """Wait until this process holds the lock, or `stop` is set; True when held."""
        while not stop.is_set():
            with contextlib.suppress(LeaseUnavailable, *CONNECTION_ERRORS):
                async with self._in_use:
                    await self._try_take()
                log.info("partition %s: lease taken", self.partition)
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.lease_retry_ms / 1000)
        return False

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """The lock-holding session, for one batch (what a pool's `acquire()` is to others)."""
        async with self._in_use:
            session = await self._try_take()
            yield session

    async def keep_alive(self) -> None:
        """Ping the session, so that only a paused or dead process lets it go idle. A session
        in use by a batch needs no ping."""
        if self._in_use.locked():
            return
        async with self._in_use:
            if self._session is not None and not self._session.is_closed():
                with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                    await self._session.execute("SELECT 1")

    async def release(self) -> None:
        """Let go: unlock and close, so that the next owner may start at once."""
        async with self._in_use:
            session, held = self._session, self._held
            self._session, self._held = None, False
            if session is None or session.is_closed():
                return
            if held:
                with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                    await session.execute(
                        "SELECT pg_advisory_unlock($1, $2)", PARTITION_LOCK_SPACE, self.partition
                    )
            try:
                await session.close(timeout=self._settings.database_connect_timeout_ms / 1000)
            except BaseException as error:
                session.terminate()  # cancelled or failed: closed at once, never left open
                if not isinstance(error, CONNECTION_ERRORS):
                    raise
        if held:
            log.info("partition %s: lease released", self.partition)

    async def _try_take(self) -> asyncpg.Connection:
        """The session, holding the lock: a lost session loses the lock, and a new one must
        take it afresh."""
        if self._session is None or self._session.is_closed():
            self._session, self._held = None, False
            self._session = await connect(
                self._settings,
                application_name=self._application_name,
                idle_session_timeout_ms=self._settings.lease_idle_session_timeout_ms,
            )
        if not self._held:
            self._held = bool(
                await self._session.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", PARTITION_LOCK_SPACE, self.partition
                )
            )
        if not self._held:
            raise LeaseUnavailable(f"partition {self.partition} is held by another writer")
        return self._session
