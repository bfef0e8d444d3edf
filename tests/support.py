"""What the tests share: settings for an isolated namespace, a small API client, and helpers
that create a tenant with its own project for each test."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import io
import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
import aio_pika.exceptions
import aiohttp
import asyncpg
import orjson
from aiohttp import web

from shared.ids import new_id
from shared.ops import keys
from shared.settings import Settings
from tests.conformance import check_reply

# Every database, virtual host and port the tests use is derived from this name, so that two
# checkouts can run their suites side by side on one machine.
NAMESPACE = os.environ.get("CLOUDWALLET_TEST_NAMESPACE", "test")
FINAL_STATUSES = ("Completed", "Failed")


def _server(name: str, default: str) -> str:
    """The server the tests use for `name` (DATABASE, AMQP, REDIS):
    `CLOUDWALLET_TEST_<name>_URL`, else the `CLOUDWALLET_<name>_URL` that `make run` uses, else
    the local default. Only the server is taken from it: the database, virtual host and Redis
    database are the namespace's, whatever path the URL has, so that a test never touches a
    running instance."""
    return (
        os.environ.get(f"CLOUDWALLET_TEST_{name}_URL")
        or os.environ.get(f"CLOUDWALLET_{name}_URL")
        or default
    )


DATABASE_SERVER = _server("DATABASE", "postgresql://postgres@127.0.0.1:5432")
AMQP_SERVER = _server("AMQP", "amqp://guest:guest@127.0.0.1:5672")
REDIS_SERVER = _server("REDIS", "redis://127.0.0.1:6379")
REDIS_DB = os.environ.get("CLOUDWALLET_TEST_REDIS_DB", "15")
VHOST_CHECK_TIMEOUT_S = 10
MANAGEMENT_PORT = 15672


def server_url(server: str, path: str) -> str:
    """`server`'s URL with `path` (a database, a virtual host, a Redis database) as its path."""
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path="/" + quote(path, safe=""), query="", fragment=""))


def namespace_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": server_url(DATABASE_SERVER, f"cloudwallet_{NAMESPACE}"),
        "amqp_url": server_url(AMQP_SERVER, f"cloudwallet-{NAMESPACE}"),
        "redis_url": server_url(REDIS_SERVER, REDIS_DB),
        "partition_count": 4,
        "http_port": 0,
        # Every suite's clients share 127.0.0.1, and some send hundreds of wrong keys on
        # purpose: the failed-authentication limit has tests of its own (test_auth_limits.py).
        "auth_failures_per_address_max": 1_000_000,
        # No fixed port: the suites run many workers on one machine, and a test that scrapes a
        # worker's /metrics gives it a free port of its own.
        "worker_metrics_port": 0,
        # Every test's keys take from a bucket far too large to run dry; the rate limits have
        # tests of their own (test_rate_limits.py).
        "rate_limit_per_s": 1_000_000,
        "rate_limit_burst": 10_000_000,
        # Webhooks: receivers of the tests listen on 127.0.0.1; retries and timeouts in
        # seconds rather than minutes (the schedule itself: tests/unit/test_webhook_rules.py).
        "webhook_allow_private": True,
        "webhook_poll_interval_ms": 100,
        "webhook_timeout_ms": 2000,
        "webhook_claim_margin_ms": 1000,
        "webhook_retry_first_ms": 300,
        "webhook_retry_max_ms": 2000,
    }
    values.update(overrides)
    return Settings(**values)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The settings as the `CLOUDWALLET_*` variables of a subprocess."""
    environment = dict(os.environ)
    for name, value in settings.model_dump().items():
        plain = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        environment[f"CLOUDWALLET_{name.upper()}"] = str(plain)
    return environment


def vhost_of(settings: Settings) -> str:
    return settings.amqp_url.get_secret_value().rsplit("/", 1)[1]


class VhostMissing(RuntimeError):
    """The tests' virtual host is missing and could not be made; the message says how to."""


def ensure_vhost(settings: Settings) -> None:
    """Make the namespace's RabbitMQ virtual host if it is missing: nothing to do when it
    takes a connection already; else `rabbitmqctl`, or, where that cannot run (no such
    command, or not allowed), the management API; else a message that says how to make it."""
    if _vhost_open(settings):
        return
    vhost = vhost_of(settings)
    try:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, timeout=60)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            timeout=60,
        )
        return
    except (OSError, subprocess.SubprocessError) as error:
        refused = f"rabbitmqctl: {error}"
    user = urlsplit(settings.amqp_url.get_secret_value()).username or "guest"
    try:
        _management("PUT", f"/api/vhosts/{quote(vhost, safe='')}", settings)
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        path = f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}"
        _management("PUT", path, settings, permissions)
    except OSError as error:
        raise VhostMissing(
            f"the tests need the RabbitMQ virtual host {vhost}, which is missing; it could not"
            f" be made ({refused}; management API: {error}). Make it with `rabbitmqctl"
            f" add_vhost {vhost}` and `rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*'"
            " '.*'`, or point CLOUDWALLET_TEST_AMQP_URL at a broker where the tests may."
        ) from None


def delete_vhost(settings: Settings) -> None:
    """Delete the namespace's virtual host: with `rabbitmqctl`, or the management API."""
    vhost = vhost_of(settings)
    try:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        _management("DELETE", f"/api/vhosts/{quote(vhost, safe='')}", settings)


def _vhost_open(settings: Settings) -> bool:
    """Whether the virtual host takes a connection, asked from a thread of its own (callers
    may be in a running event loop)."""

    async def connect() -> bool:
        try:
            connection = await aio_pika.connect(
                settings.amqp_url.get_secret_value(), timeout=VHOST_CHECK_TIMEOUT_S
            )
        except (OSError, aio_pika.exceptions.AMQPError):
            return False
        await connection.close()
        return True

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, connect()).result(timeout=2 * VHOST_CHECK_TIMEOUT_S)


def _management(method: str, path: str, settings: Settings, body: Any = None) -> None:
    """One call to the broker's management API (port 15672), with the AMQP URL's user."""
    parts = urlsplit(settings.amqp_url.get_secret_value())
    credentials = f"{unquote(parts.username or 'guest')}:{unquote(parts.password or 'guest')}"
    request = urllib.request.Request(
        f"http://{parts.hostname or '127.0.0.1'}:{MANAGEMENT_PORT}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=VHOST_CHECK_TIMEOUT_S):
        pass


async def ensure_topology(settings: Settings) -> None:
    """Declare the namespace's broker topology. A test virtual host whose queues were declared
    with other fixed arguments (an older delivery limit, say) holds nothing worth keeping: it
    is deleted and made again."""
    from shared.amqp.broker import declare_topology
    from shared.database import DeploymentMismatch

    for attempt in range(2):
        connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
        try:
            await declare_topology(await connection.channel(), settings)
            return
        except DeploymentMismatch:
            if attempt:
                raise
        finally:
            await connection.close()
        await asyncio.to_thread(delete_vhost, settings)
        await asyncio.to_thread(ensure_vhost, settings)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` in this process on a free port of 127.0.0.1 until the block ends; yields its
    base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def create_tenant_key(settings: Settings) -> str:
    """A new tenant with a new API key."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        _, api_key = await keys.create_tenant_key(connection, f"t-{uuid.uuid4()}")
    finally:
        await connection.close()
    return api_key


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """The HTTP API as one tenant sees it; every reply is checked against the OpenAPI
    document's description of its route (tests/conformance.py)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        self.session = session
        self.base_url = base_url
        self.api_key = api_key

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"Authorization": f"Bearer {self.api_key}"} | (headers or {})
        data: Any = None if raw is None else io.BytesIO(raw)
        if body is not None:
            data = orjson.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method, self.base_url + path, data=data, headers=sent
        ) as response:
            text = await response.read()
            parsed = None
            if response.content_type == "application/json" and text:
                parsed = json.loads(text)
            check_reply(method, path, response.status, parsed)
            return Reply(response.status, parsed, dict(response.headers))

    async def get(self, path: str) -> Reply:
        return await self.call("GET", path)

    async def post(self, path: str, body: Any = None) -> Reply:
        return await self.call("POST", path, body)

    async def put(self, path: str, body: Any = None) -> Reply:
        return await self.call("PUT", path, body)

    async def delete(self, path: str) -> Reply:
        return await self.call("DELETE", path)

    async def created(self, path: str, body: Any) -> dict[str, Any]:
        reply = await self.post(path, body)
        if reply.status != 201:
            raise AssertionError(f"POST {path} answered {reply.status}: {reply.body}")
        return dict(reply.body)

    async def submit(
        self, project_id: str, operations: list[dict[str, Any]], reference_id: str | None = None
    ) -> dict[str, Any]:
        reply = await self.post(
            f"/projects/{project_id}/transactions",
            {"referenceId": reference_id or new_id(), "operations": operations},
        )
        if reply.status != 202:
            raise AssertionError(f"submit answered {reply.status}: {reply.body}")
        return dict(reply.body)

    async def final(
        self, project_id: str, transaction_id: str, timeout_s: float = 20
    ) -> dict[str, Any]:
        """Poll a transaction until it is Completed or Failed."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            reply = await self.get(f"/projects/{project_id}/transactions/{transaction_id}")
            if reply.status == 200 and reply.body["status"] in FINAL_STATUSES:
                return dict(reply.body)
            await asyncio.sleep(0.05)
        raise AssertionError(f"transaction {transaction_id} did not finish in {timeout_s} s")

    async def run(
        self, project_id: str, operations: list[dict[str, Any]], reference_id: str | None = None
    ) -> dict[str, Any]:
        """Submit and wait for the final state."""
        accepted = await self.submit(project_id, operations, reference_id)
        return await self.final(project_id, accepted["id"])

    async def balance(self, project_id: str, wallet_id: str) -> int:
        reply = await self.get(f"/projects/{project_id}/wallets/{wallet_id}")
        return int(reply.body["balance"])


@dataclass
class Ledger:
    """A tenant's fresh project with one asset, ready for wallets."""

    api: Api
    project_id: str
    asset_id: str

    async def system_wallet(self, asset_id: str | None = None) -> str:
        wallet = await self.api.created(
            f"/projects/{self.project_id}/system-wallets", {"assetId": asset_id or self.asset_id}
        )
        return str(wallet["id"])

    async def customer_wallet(self, customer_id: str | None = None) -> str:
        customer_id = customer_id or new_id()
        await self.api.post(f"/projects/{self.project_id}/customers", {"id": customer_id})
        wallet = await self.api.created(
            f"/projects/{self.project_id}/wallets",
            {"customerId": customer_id, "assetId": self.asset_id},
        )
        return str(wallet["id"])


async def new_ledger(api: Api) -> Ledger:
    project = await api.created("/projects", {"name": "test project"})
    asset = await api.created(
        f"/projects/{project['id']}/assets", {"name": "Points", "code": "PTS", "fractions": 100}
    )
    return Ledger(api, project["id"], asset["id"])


async def assert_ledger_consistent(
    settings: Settings, project_id: str, accepted: list[tuple[str, str]] | None = None
) -> None:
    """Every invariant `cloudwallet verify` checks holds for the project."""
    from shared.ops.verify import verify

    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        report = await verify(connection, project_id, accepted)
    finally:
        await connection.close()
    assert report.ok, report.violations


def issue(to: str, amount: int) -> dict[str, object]:
    return {"type": "Issue", "to": to, "amount": str(amount)}


def transfer(source: str, target: str, amount: int) -> dict[str, object]:
    return {"type": "Transfer", "from": source, "to": target, "amount": str(amount)}


def redeem(source: str, amount: int) -> dict[str, object]:
    return {"type": "Redeem", "from": source, "amount": str(amount)}


def hold(
    source: str, amount: int, target: str | None = None, timeout_s: int | None = None
) -> dict[str, object]:
    """A Hold of `amount` of `source`: a pending Transfer to `target`, or a pending Redeem."""
    operation: dict[str, object] = {"type": "Hold", "from": source, "amount": str(amount)}
    if target is not None:
        operation["to"] = target
    if timeout_s is not None:
        operation["timeoutS"] = timeout_s
    return operation


def capture(hold_id: str, amount: int | None = None) -> dict[str, object]:
    operation: dict[str, object] = {"type": "Capture", "holdId": hold_id}
    if amount is not None:
        operation["amount"] = str(amount)
    return operation


def void(hold_id: str) -> dict[str, object]:
    return {"type": "Void", "holdId": hold_id}


async def fetch_rows(settings: Settings, query: str, *arguments: Any) -> list[asyncpg.Record]:
    """Read PostgreSQL directly, to check what a request stored (or did not)."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return list(await connection.fetch(query, *arguments))
    finally:
        await connection.close()
