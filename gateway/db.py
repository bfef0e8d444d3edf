"""The gateway's edge to PostgreSQL. Every call, waiting for a pooled connection included, ends
within `database_query_timeout_ms`: past it the connection is closed at once (a stalled network
would never answer asyncpg's cancel request or the pool's reset) and the call fails. A lost,
stalled or busy database (the transient errors of `shared.database`) becomes DatabaseUnavailable
(503 with Retry-After) here, once; constraint violations the handlers expect come back as
asyncpg's own classes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.database import CONNECTION_ERRORS, TRANSIENT_ERRORS, Connection, connect
from shared.errors import DatabaseUnavailable, InvariantViolation
from shared.settings import Settings


class Database:
    """The few query shapes the handlers use, over one pool."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        query_timeout_ms: int,
        release_timeout_min_ms: int = Settings.default_of("database_release_timeout_min_ms"),
    ) -> None:
        self.pool = pool
        self._timeout_s = query_timeout_ms / 1000
        # A call that used up its budget still gets its connection reset and back to the pool,
        # rather than closed.
        self._release_timeout_min_s = release_timeout_min_ms / 1000

    async def fetch(self, query: str, *arguments: Any) -> list[asyncpg.Record]:
        async with self._connection() as connection:
            return list(await connection.fetch(query, *arguments))

    async def fetchrow(self, query: str, *arguments: Any) -> asyncpg.Record | None:
        async with self._connection() as connection:
            return await connection.fetchrow(query, *arguments)

    async def fetchone(self, query: str, *arguments: Any) -> asyncpg.Record:
        """A row the statement always returns (an INSERT ... RETURNING, say)."""
        row = await self.fetchrow(query, *arguments)
        if row is None:
            raise InvariantViolation("the statement returned no row")
        return row

    async def fetchval(self, query: str, *arguments: Any) -> Any:
        async with self._connection() as connection:
            return await connection.fetchval(query, *arguments)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One database transaction on one connection, within the timeout as a whole."""
        async with self._connection() as connection:
            transaction = connection.transaction()
            await transaction.start()
            try:
                yield connection
            except asyncio.CancelledError:
                raise  # the connection is closed, which ends the transaction without a ROLLBACK
            except BaseException:
                await transaction.rollback()
                raise
            await transaction.commit()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection for the rest of the time budget. A watchdog closes it when the
        budget is spent, which fails whatever statement is waiting on it; so does a caller's
        cancellation (its own timeout), since the statement's outcome is then unknown."""
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + self._timeout_s
        try:
            connection = await self.pool.acquire(timeout=self._timeout_s)
        except TRANSIENT_ERRORS as error:
            raise self._unavailable(loop.time() >= deadline_s) from error
        watchdog = loop.call_at(deadline_s, _terminate, connection)
        try:
            yield connection
        except asyncio.CancelledError:
            _terminate(connection)
            raise
        except TRANSIENT_ERRORS as error:
            raise self._unavailable(loop.time() >= deadline_s) from error
        finally:
            watchdog.cancel()
            # A connection that fails its reset is closed by the pool; the answer stands.
            with contextlib.suppress(*CONNECTION_ERRORS):
                remaining_s = max(deadline_s - loop.time(), self._release_timeout_min_s)
                await self.pool.release(connection, timeout=remaining_s)

    def _unavailable(self, timed_out: bool) -> DatabaseUnavailable:
        if timed_out:
            return DatabaseUnavailable(
                f"the database did not answer within {self._timeout_s * 1000:.0f} ms"
            )
        return DatabaseUnavailable("the database is unavailable")


class SingleConnection:
    """One connection of its own for one hot, short query shape (the reference lookups of
    `gateway/references.py`): no pool to wait on, and no reset on the way back, which costs a
    pooled query a second round trip. Connected when first used and again after a failure;
    its callers take turns (one connection runs one statement at a time), and each call,
    its turn included, is bounded by `timeout_s`, past which the connection is closed."""

    def __init__(self, settings: Settings, *, application_name: str, timeout_s: float) -> None:
        self._settings = settings
        self._application_name = application_name
        self._timeout_s = timeout_s
        self._connection: asyncpg.Connection | None = None
        self._turn = asyncio.Lock()
        self._closed = False

    async def fetch(self, query: str, *arguments: Any) -> list[asyncpg.Record]:
        try:
            async with asyncio.timeout(self._timeout_s), self._turn:
                connection = await self._connected()
                try:
                    return list(await connection.fetch(query, *arguments))
                except (*TRANSIENT_ERRORS, asyncio.CancelledError):
                    # The statement's outcome is unknown: the connection goes with it.
                    self._connection = None
                    _terminate(connection)
                    raise
        except TRANSIENT_ERRORS as error:
            raise DatabaseUnavailable("the database did not answer in time") from error

    async def _connected(self) -> asyncpg.Connection:
        """The connection, made now if there is none (only while holding the turn)."""
        if self._closed:
            raise DatabaseUnavailable("the gateway is stopping")
        if self._connection is None or self._connection.is_closed():
            connection = await connect(self._settings, application_name=self._application_name)
            if self._closed:  # `close` gave up waiting for this call's turn
                _terminate(connection)
                raise DatabaseUnavailable("the gateway is stopping")
            self._connection = connection
        return self._connection

    async def close(self) -> None:
        """Close the connection once the call holding it is done, all within `timeout_s`;
        past it, or on any error, it is dropped at once (it holds no transaction and no
        session state worth a clean goodbye)."""
        self._closed = True
        try:
            async with asyncio.timeout(self._timeout_s), self._turn:
                if self._connection is not None:
                    await self._connection.close()
        except BaseException as error:
            if self._connection is not None:
                _terminate(self._connection)
            if not isinstance(error, CONNECTION_ERRORS):
                raise
        finally:
            self._connection = None


def _terminate(connection: Connection) -> None:
    """Close a connection at once, without a word to the server."""
    with contextlib.suppress(asyncpg.InterfaceError):  # already closed or back in the pool
        connection.terminate()
