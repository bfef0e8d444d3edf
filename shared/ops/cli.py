"""The `cloudwallet` command: migrate, gateway, worker, run, status, keys create, verify."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from pydantic import ValidationError

from shared.database import DeploymentMismatch, database_url, migrate
from shared.errors import InvariantViolation
from shared.ops.keys import create_tenant_key
from shared.settings import Settings, load_settings

log = logging.getLogger("cloudwallet")
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
# A writer broke a ledger invariant: the worker stops, for its supervisor to start it again
# (docs/operations/cloudwallet-worker.service), and an operator to read the log line.
EXIT_INVARIANT = 3


class VerifyFailed(Exception):
    """`cloudwallet verify` found violations (already printed)."""


class UsageError(Exception):
    """A command's input cannot be used; the message says why."""


async def _migrate(settings: Settings) -> None:
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


async def _create_key(settings: Settings, tenant: str) -> None:
    connection = await asyncpg.connect(database_url(settings))
    try:
        _, api_key = await create_tenant_key(connection, tenant)
    finally:
        await connection.close()
    print(api_key)


async def _verify(settings: Settings, project_id: str | None, accepted_path: Path | None) -> None:
    """Check the ledger's invariants and print each violation; raise VerifyFailed if any."""
    from shared.ops.verify import read_accepted, verify

    try:
        accepted = read_accepted(accepted_path) if accepted_path is not None else None
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the accepted log: {error}") from None
    connection = await asyncpg.connect(database_url(settings))
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            report = await verify(connection, project_id, accepted)
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


async def _status(settings: Settings) -> None:
    """Print the live workers and each partition's owner, queue depth, consumers and rate."""
    from shared.ops.status_report import partition_statuses, render

    connection = await asyncpg.connect(database_url(settings))
    try:
        workers, statuses = await partition_statuses(settings, connection)
    finally:
        await connection.close()
    print(render(workers, statuses))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudwallet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or update the database schema")
    commands.add_parser("gateway", help="serve the HTTP API")
    commands.add_parser("worker", help="apply transactions from the partition queues")
    commands.add_parser("run", help="migrate, then run one gateway and one worker together")
    commands.add_parser(
        "status", help="live workers; each partition's owner, queue depth, consumers, rate"
    )
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="key_command", required=True)
    create = key_commands.add_parser("create", help="create a tenant's API key and print it once")
    create.add_argument("--tenant", required=True, help="the tenant's name (created if new)")
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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except ValidationError as error:
        print(f"cloudwallet: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    if arguments.command == "keys":
        command: Coroutine[Any, Any, None] = _create_key(settings, arguments.tenant)
    elif arguments.command == "verify":
        command = _verify(settings, arguments.project, arguments.accepted)
    else:
        command = {
            "migrate": _migrate,
            "gateway": _gateway,
            "worker": _worker,
            "run": _run,
            "status": _status,
        }[arguments.command](settings)
    try:
        uvloop.run(command)
    except VerifyFailed:
        return EXIT_VIOLATIONS
    except (DeploymentMismatch, UsageError) as error:
        print(f"cloudwallet: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, asyncpg.PostgresError) as error:
        print(f"cloudwallet: cannot reach a service: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except InvariantViolation as error:
        return _invariant_broken(error)
    except ExceptionGroup as group:  # `run`: the gateway and the worker in one task group
        violations = group.subgroup(InvariantViolation)
        if violations is None:
            raise
        return _invariant_broken(violations.exceptions[0])
    return 0


def _invariant_broken(error: BaseException) -> int:
    print(f"cloudwallet: a ledger invariant is broken, stopping: {error}", file=sys.stderr)
    return EXIT_INVARIANT


if __name__ == "__main__":
    sys.exit(main())
