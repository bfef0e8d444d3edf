"""The `cloudwallet` command: migrate, gateway, worker, webhooks, run, status, keys (create,
list, revoke, rotate-signing-key), verify."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import asyncpg
import orjson
import uvloop
from pydantic import ValidationError
from tqdm import tqdm

from shared.access import keystore
from shared.access.keystore import KeySpec, Scope
from shared.database import DeploymentMismatch, database_url, migrate
from shared.errors import CacheUnavailable, ConfigurationError, InvariantViolation
from shared.logs import configure_logging
from shared.ops.keys import create_tenant_key, tenant_id_of
from shared.redis.access import KeyNotices
from shared.services import POSTGRESQL, RABBITMQ, PortTaken, ServiceUnreachable, reaching
from shared.settings import Settings, load_settings

log = logging.getLogger("cloudwallet")
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
# A writer broke a ledger invariant: the worker stops, for its supervisor to start it again
# (docs/operations/cloudwallet-worker.service), and an operator to read the log line.
EXIT_INVARIANT = 3
# What a command says in one line (its own exit code) instead of a traceback.
ONE_LINE_ERRORS: tuple[type[BaseException], ...] = (
    ConfigurationError,
    ServiceUnreachable,
    PortTaken,
    DeploymentMismatch,
    OSError,
    asyncpg.PostgresError,
)
KEYS_LISTED_MAX = 10_000  # `cloudwallet keys list` prints at most this many


class VerifyFailed(Exception):
    """`cloudwallet verify` found violations (already printed)."""


class UsageError(Exception):
    """A command's input cannot be used; the message says why."""


async def _migrate(settings: Settings) -> None:
    with reaching(POSTGRESQL, database_url(settings)):
        applied = await migrate(settings)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


async def _gateway(settings: Settings) -> None:
    from gateway.app import serve, stop_on_signals

    stop = asyncio.Event()
    stop_on_signals(stop)
    await serve(settings, stop)


async def _worker(settings: Settings) -> None:
    from gateway.app import stop_on_signals
    from worker.main import run_worker

    stop = asyncio.Event()
    stop_on_signals(stop)
    await run_worker(settings, stop)


async def _webhooks(settings: Settings) -> None:
    from gateway.app import stop_on_signals
    from worker.main import run_webhooks

    stop = asyncio.Event()
    stop_on_signals(stop)
    await run_webhooks(settings, stop)


async def _run(settings: Settings) -> None:
    """Migrate, then one gateway and one worker in this process, until Ctrl-C."""
    from gateway.app import serve, stop_on_signals
    from worker.main import run_worker

    await _migrate(settings)
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with asyncio.TaskGroup() as group:
        group.create_task(serve(settings, stop))
        group.create_task(run_worker(settings, stop))


async def _connect(settings: Settings) -> asyncpg.Connection:
    """A connection of a command's own; ServiceUnreachable names PostgreSQL if it is down."""
    with reaching(POSTGRESQL, database_url(settings)):
        return await asyncpg.connect(
            database_url(settings), timeout=settings.database_connect_timeout_ms / 1000
        )


async def _create_key(settings: Settings, tenant: str, name: str, scope: str) -> None:
    connection = await _connect(settings)
    try:
        _, api_key = await create_tenant_key(connection, tenant, KeySpec(name, Scope(scope)))
    finally:
        await connection.close()
    print(api_key)


async def _list_keys(settings: Settings, tenant: str) -> None:
    """Print the tenant's keys that are not revoked, one a line, without their secrets."""
    connection = await _connect(settings)
    try:
        tenant_id = await tenant_id_of(connection, tenant)
        if tenant_id is None:
            raise UsageError(f"tenant {tenant} not found")
        listed = await keystore.list_keys(connection, tenant_id, KEYS_LISTED_MAX)
    finally:
        await connection.close()
    print("id                          scope     oauth  expires                    name")
    for key in listed:
        expires = key.expires_at.isoformat() if key.expires_at else "never"
        oauth = "yes" if key.oauth_client else "no"
        print(f"{key.id:<27} {key.scope.value:<9} {oauth:<6} {expires:<26} {key.name}")


async def _revoke_key(settings: Settings, key_id: str) -> None:
    """Revoke the key and tell every gateway (each forgets it within a second)."""
    connection = await _connect(settings)
    try:
        if not await keystore.revoke_key(connection, key_id, None):
            raise UsageError(f"key {key_id} not found (or already revoked)")
    finally:
        await connection.close()
    notices = KeyNotices(
        settings.redis_url.get_secret_value(), timeout_s=settings.redis_timeout_ms / 1000
    )
    try:
        await notices.announce_revoked(key_id)
    except CacheUnavailable:
        print(
            f"key {key_id} revoked; Redis did not answer, so gateways stop accepting it once"
            f" their cache entry expires (auth_cache_ttl_s = {settings.auth_cache_ttl_s} s)"
        )
        return
    finally:
        await notices.close()
    print(f"key {key_id} revoked")


async def _rotate_signing_key(settings: Settings) -> None:
    """Add a new OAuth2 signing key; gateways sign with it once they read it again."""
    from gateway.oauth import ADD_SIGNING_KEY, new_signing_key

    kid, secret = new_signing_key()
    connection = await _connect(settings)
    try:
        await connection.execute(ADD_SIGNING_KEY, kid, secret)
    finally:
        await connection.close()
    print(
        f"signing key {kid} added: gateways sign with it within"
        f" {settings.oauth_signing_keys_refresh_s} s; delete the older keys from"
        f" oauth_signing_keys once their tokens have expired ({settings.oauth_token_ttl_s} s)"
    )


async def _verify(settings: Settings, project_id: str | None, accepted_path: Path | None) -> None:
    """Check the ledger's invariants and print each violation; raise VerifyFailed if any."""
    from shared.ops.verify import read_accepted, verify

    try:
        accepted = read_accepted(accepted_path) if accepted_path is not None else None
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the accepted log: {error}") from None
    connection = await _connect(settings)
    # A progress bar on a terminal only: a pipe or a log file gets the result lines alone.
    with tqdm(desc="verify", unit=" checks", disable=not sys.stderr.isatty()) as bar:
        try:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                counted = cast(asyncpg.Connection, CountedQueries(connection, bar.update))
                report = await verify(counted, project_id, accepted)
        finally:
            await connection.close()
    scope = f"project {project_id}" if project_id else "all projects"
    for violation in report.violations:
        print(f"violation: {violation}")
    if accepted is not None:
        print(
            f"accepted: {report.checked_accepted} checked, {report.completed} completed,"
            f" {report.failed} failed"
        )
    if report.violations:
        print(f"verify: {len(report.violations)} violations in {scope}")
        raise VerifyFailed
    print(f"verify: ok ({scope})")


class CountedQueries:
    """A connection that calls `advance` after each of its queries: `verify` runs one query
    per check, so counting them shows its progress without `verify` knowing of a bar."""

    def __init__(self, connection: asyncpg.Connection, advance: Callable[[], object]) -> None:
        self._connection = connection
        self._advance = advance

    async def fetch(self, query: str, *arguments: Any) -> list[asyncpg.Record]:
        rows = await self._connection.fetch(query, *arguments)
        self._advance()
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


async def _status(settings: Settings, as_json: bool = False) -> None:
    """Print the live workers and each partition's owner, queue depth, consumers and rate
    (as one JSON object with `--json`)."""
    from shared.ops.status_report import as_document, partition_statuses, render

    connection = await _connect(settings)
    try:
        with reaching(RABBITMQ, settings.amqp_url.get_secret_value()):
            workers, statuses = await partition_statuses(settings, connection)
    finally:
        await connection.close()
    if as_json:
        print(orjson.dumps(as_document(workers, statuses), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(workers, statuses))


def _key_command(settings: Settings, arguments: argparse.Namespace) -> Coroutine[Any, Any, None]:
    if arguments.key_command == "create":
        return _create_key(settings, arguments.tenant, arguments.name, arguments.scope)
    if arguments.key_command == "list":
        return _list_keys(settings, arguments.tenant)
    if arguments.key_command == "revoke":
        return _revoke_key(settings, arguments.key_id)
    return _rotate_signing_key(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudwallet", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cloudwallet {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or update the database schema")
    commands.add_parser("gateway", help="serve the HTTP API")
    commands.add_parser("worker", help="apply transactions from the partition queues")
    commands.add_parser(
        "webhooks", help="deliver webhooks only (workers deliver them too, unless told not to)"
    )
    commands.add_parser("run", help="migrate, then run one gateway and one worker together")
    status = commands.add_parser(
        "status", help="live workers; each partition's owner, queue depth, consumers, rate"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="key_command", required=True)
    create = key_commands.add_parser("create", help="create a tenant's API key and print it once")
    create.add_argument("--tenant", required=True, help="the tenant's name (created if new)")
    create.add_argument("--name", default="", help="what the key is for")
    create.add_argument(
        "--scope", choices=("full", "read"), default="full", help="what the key may do"
    )
    listing = key_commands.add_parser("list", help="list a tenant's keys (never their secrets)")
    listing.add_argument("--tenant", required=True, help="the tenant's name")
    revoke = key_commands.add_parser("revoke", help="revoke a key on every gateway")
    revoke.add_argument("key_id", help="the key's id (the part after cw.)")
    key_commands.add_parser("rotate-signing-key", help="add a new OAuth2 token signing key")
    verify = commands.add_parser(
        "verify", help="check the ledger's invariants; exit 1 naming each violation"
    )
    verify.add_argument("--project", help="check only this project (default: all)")
    verify.add_argument(
        "--accepted",
        type=Path,
        help="a client log of accepted transactions, one JSON object per line with id and"
        " referenceId: each must have exactly one final status",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as error:
        print(f"cloudwallet: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if arguments.command == "keys":
        command: Coroutine[Any, Any, None] = _key_command(settings, arguments)
    elif arguments.command == "verify":
        command = _verify(settings, arguments.project, arguments.accepted)
    elif arguments.command == "status":
        command = _status(settings, arguments.json)
    else:
        command = {
            "migrate": _migrate,
            "gateway": _gateway,
            "worker": _worker,
            "webhooks": _webhooks,
            "run": _run,
        }[arguments.command](settings)
    try:
        uvloop.run(command)
    except BaseException as error:
        return _exit_code(error)
    return 0


def _exit_code(error: BaseException) -> int:
    """The exit code of a command that raised `error`, after one line saying why: a missing
    service, a taken port or a bad configuration never print a traceback. `run` raises the
    gateway's and the worker's errors together: the first that has a line of its own is
    said."""
    if isinstance(error, BaseExceptionGroup):
        kinds: tuple[type[BaseException], ...] = (InvariantViolation, *ONE_LINE_ERRORS)
        for kind in kinds:
            found = error.subgroup(kind)
            if found is not None:
                return _exit_code(_first(found))
        raise error
    if isinstance(error, VerifyFailed):
        return EXIT_VIOLATIONS
    if isinstance(error, KeyboardInterrupt):
        return 130
    if isinstance(error, InvariantViolation):
        return _invariant_broken(error)
    if isinstance(error, DeploymentMismatch | UsageError | ConfigurationError):
        print(f"cloudwallet: {error}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, ServiceUnreachable | PortTaken):
        print(f"cloudwallet: {error}", file=sys.stderr)
        return 1
    if isinstance(error, OSError | asyncpg.PostgresError):
        # A TimeoutError says nothing of itself: a service stopped answering (at the stop, say).
        reason = str(error) or "a service did not answer in time"
        print(f"cloudwallet: {type(error).__name__}: {reason}", file=sys.stderr)
        return 1
    raise error


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a group, looking into nested groups."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _version() -> str:
    try:
        return metadata.version("cloudwallet")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _invariant_broken(error: BaseException) -> int:
    print(f"cloudwallet: a ledger invariant is broken, stopping: {error}", file=sys.stderr)
    return EXIT_INVARIANT


if __name__ == "__main__":
    sys.exit(main())
