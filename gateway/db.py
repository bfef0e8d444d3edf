"""The gateway's edge to PostgreSQL: connection-level failures, and the rare deadlock or
serialization failure a retry resolves, become DatabaseUnavailable (503 with Retry-After)
here; constraint violations the handlers expect come back as asyncpg's own classes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.database import CONNECTION_ERRORS as DATABASE_CONNECTION_ERRORS
from shared.database import Connection
from shared.errors import DatabaseUnavailable, InvariantViolation

# Deadlocks and serialization failures are transient too: the caller may simply try again.
CONNECTION_ERRORS = (
    *DATABASE_CONNECTION_ERRORS,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


class Database:
    """The few query shapes the handlers use, over one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def fetch(self, query: str, *arguments: Any) -> list[asyncpg.Record]:
        try:
            return list(await self.pool.fetch(query, *arguments))
        except CONNECTION_ERRORS as error:
            raise DatabaseUnavailable("the database is unavailable") from error

    async def fetchrow(self, query: str, *arguments: Any) -> asyncpg.Record | None:
        try:
            return await self.pool.fetchrow(query, *arguments)
        except CONNECTION_ERRORS as error:
            raise DatabaseUnavailable("the database is unavailable") from error

    async def fetchone(self, query: str, *arguments: Any) -> asyncpg.Record:
        """A row the statement always returns (an INSERT ... RETURNING, say)."""
        row = await self.fetchrow(query, *arguments)
        if row is None:
            raise InvariantViolation("the statement returned no row")
        return row

    async def fetchval(self, query: str, *arguments: Any) -> Any:
        try:
            return await self.pool.fetchval(query, *arguments)
        except CONNECTION_ERRORS as error:
            raise DatabaseUnavailable("the database is unavailable") from error

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One database transaction on one connection."""
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                yield connection
        except CONNECTION_ERRORS as error:
            raise DatabaseUnavailable("the database is unavailable") from error
