"""PostgreSQL plumbing shared by every process: the pool, the migrations, the deployment check.

Migrations are the ordered plain-SQL files in `shared/migrations/`, applied once each and
recorded in `schema_migrations`; re-running `migrate` is a no-op."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from shared.settings import Settings

log = logging.getLogger(__name__)
# A connection of our own, or one borrowed from a pool.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
MIGRATION_LOCK_KEY = 0x636C6F7564  # an arbitrary constant: serializes concurrent `migrate` runs


class DeploymentMismatch(RuntimeError):
    """The process is configured differently from the deployment recorded in the database."""


def database_url(settings: Settings) -> str:
    return settings.database_url.get_secret_value()


# What a lost, unreachable or stalled database looks like through asyncpg. A statement or a
# connection attempt that outlived its timeout raises TimeoutError, which is an OSError.
CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,  # the connection broke mid-statement (backend terminated)
)
# The one table of transient database errors, for every process: after any of them the same
# work may simply be tried again (by a client after the gateway's 503, by a writer after its
# backoff). Besides a lost connection: a deadlock or a serialization failure, a session ended
# for idling in a transaction, a lock not granted within `database_lock_timeout_ms`, and a
# statement cancelled by an operator or a server-side timeout.
TRANSIENT_ERRORS = (
    *CONNECTION_ERRORS,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.IdleInTransactionSessionTimeoutError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
)


def _server_settings(
    settings: Settings,
    application_name: str,
    lock_timeout_ms: int | None,
    idle_session_timeout_ms: int | None = None,
) -> dict[str, str]:
    """Sessions end a transaction left idle by a stopped (paused, partitioned) process, so
    that its locks are freed; with `lock_timeout_ms` every wait for a lock is bounded, and with
    `idle_session_timeout_ms` so is the life of a session nobody uses."""
    server_settings = {
        "idle_in_transaction_session_timeout": str(
            settings.database_idle_in_transaction_timeout_ms
        ),
        "application_name": application_name,
    }
    if lock_timeout_ms is not None:
        server_settings["lock_timeout"] = str(lock_timeout_ms)
    if idle_session_timeout_ms is not None:
        server_settings["idle_session_timeout"] = str(idle_session_timeout_ms)
    return server_settings


async def connect(
    settings: Settings, *, application_name: str, idle_session_timeout_ms: int | None = None
) -> asyncpg.Connection:
    """One connection of its own (a partition's lease, the gateway's reference lookups),
    configured like the pools'."""
    connection = await asyncpg.connect(
        database_url(settings),
        timeout=settings.database_connect_timeout_ms / 1000,
        command_timeout=settings.database_command_timeout_ms / 1000,
        server_settings=_server_settings(
            settings, application_name, settings.database_lock_timeout_ms, idle_session_timeout_ms
        ),
    )
    try:
        await _set_codecs(connection)
    except BaseException:
        # Cancelled (a caller's deadline) or failed while it was being set up: nobody else
        # holds the connection, so it is closed here or never.
        connection.terminate()
        raise
    return connection


async def create_pool(
    settings: Settings,
    *,
    size_max: int | None = None,
    size_min: int = 1,
    application_name: str = "cloudwallet",
    lock_timeout_ms: int | None = None,
    command_timeout_ms: int | None = None,
    statement_timeout_ms: int | None = None,
) -> asyncpg.Pool:
    """A connection pool; every statement is bounded in time (see `_server_settings`), by
    `command_timeout_ms` on the client's side (default `database_command_timeout_ms`) and, with
    `statement_timeout_ms`, on the server's too (so that a statement whose client gave up does
    not run on); every new connection is bounded by `database_connect_timeout_ms`. With
    `size_min` 0 it opens no connection until one is acquired (a process started while
    PostgreSQL is down)."""
    pool_size_max = size_max or settings.database_pool_size_max
    server_settings = _server_settings(settings, application_name, lock_timeout_ms)
    if statement_timeout_ms is not None:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    return await asyncpg.create_pool(
        database_url(settings),
        min_size=size_min,
        max_size=pool_size_max,
        init=_set_codecs,
        timeout=settings.database_connect_timeout_ms / 1000,
        command_timeout=(command_timeout_ms or settings.database_command_timeout_ms) / 1000,
        server_settings=server_settings,
    )


async def _set_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog"
        )


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _create_database_if_missing(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    try:
        connection = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
        try:
            await admin.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
            log.info("created database %s", name)
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
    else:
        await connection.close()


def _migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("shared") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(settings: Settings) -> list[str]:
    """Apply the migrations not yet applied and record the partition count; return their names."""
    url = database_url(settings)
    await _create_database_if_missing(url)
    connection = await asyncpg.connect(url)
    applied_now = []
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                row["version"]
                for row in await connection.fetch("SELECT version FROM schema_migrations")
            }
            for version, name, sql in _migration_files():
                if version in done:
                    continue
                await connection.execute(sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
                applied_now.append(name)
            await connection.execute(
                "INSERT INTO deployment (key, value) VALUES ('partition_count', $1)"
                " ON CONFLICT (key) DO NOTHING",
                str(settings.partition_count),
            )
        await check_deployment(connection, settings)
    finally:
        await connection.close()
    return applied_now


async def check_deployment(connection: Any, settings: Settings) -> None:
    """Refuse to run with a partition count other than the one recorded for the deployment."""
    recorded = await connection.fetchval(
        "SELECT value FROM deployment WHERE key = 'partition_count'"
    )
    if recorded is None:
        raise DeploymentMismatch("the database is not migrated: run `cloudwallet migrate` first")
    if int(recorded) != settings.partition_count:
        raise DeploymentMismatch(
            f"CLOUDWALLET_PARTITION_COUNT is {settings.partition_count} but this deployment was"
            f" created with {recorded}; a deployment's partition count is fixed"
        )
