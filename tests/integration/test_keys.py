"""Keys over HTTP (design section 10): a full key creates keys of each scope, whose secret is
shown once and never listed; bad requests are 400/404 and store nothing; read keys only read;
a revoked key answers 401 on a second gateway (which had it cached) within a second; an
expired key answers 401; another tenant's key cannot be revoked; and `cloudwallet keys`
lists, creates and revokes from the command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from gateway.app import create_app
from shared.settings import Settings
from tests.support import Api, fetch_rows, new_ledger, serving, settings_environment


async def key_count(settings: Settings, api: Api) -> int:
    key_id = api.api_key.split(".")[1]
    rows = await fetch_rows(
        settings,
        "SELECT count(*) AS n FROM api_keys WHERE tenant_id ="
        " (SELECT tenant_id FROM api_keys WHERE id = $1)",
        key_id,
    )
    return int(rows[0]["n"])


def as_key(api: Api, secret: str) -> Api:
    return Api(api.session, api.base_url, secret)


async def test_keys_of_each_scope_are_created_listed_without_secrets_and_work(
    api: Api, migrated: Settings
) -> None:
    ledger = await new_ledger(api)
    await ledger.customer_wallet("customer-1")
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    bodies: list[dict[str, Any]] = [
        {"name": "admin", "scope": "full"},
        {"name": "reports", "scope": "read", "expiresAt": expires},
        {
            "name": "app",
            "scope": "customer",
            "projectId": ledger.project_id,
            "customerId": "customer-1",
        },
        {"name": "service", "scope": "full", "oauthClient": True, "rateLimitPerS": 5},
    ]
    created = [await api.created("/keys", body) for body in bodies]
    for body, key in zip(bodies, created, strict=True):
        assert key["secret"].startswith(f"cw.{key['id']}.")
        assert key["scope"] == body["scope"] and key["name"] == body["name"]
        assert key["oauthClient"] == body.get("oauthClient", False)
    assert created[1]["expiresAt"] is not None and created[0]["expiresAt"] is None
    assert (created[2]["projectId"], created[2]["customerId"]) == (ledger.project_id, "customer-1")
    assert created[3]["rateLimitPerS"] == 5
    listed = await api.get("/keys?pageSize=500")
    assert listed.status == 200
    assert all("secret" not in item for item in listed.body["items"])
    by_id = {item["id"]: item for item in listed.body["items"]}
    for key in created:
        assert by_id[key["id"]] == {name: value for name, value in key.items() if name != "secret"}
    assert key["secret"] not in json.dumps(listed.body)
    assert (await as_key(api, created[0]["secret"]).get("/projects")).status == 200
    assert (await as_key(api, created[1]["secret"]).get("/projects")).status == 200
    customer = as_key(api, created[2]["secret"])
    assert (await customer.get(f"/projects/{ledger.project_id}")).status == 200
    # An OAuth2 client's secret only buys tokens.
    assert (await as_key(api, created[3]["secret"]).get("/projects")).status == 401
    stored = await fetch_rows(migrated, "SELECT * FROM api_keys WHERE id = $1", created[0]["id"])
    assert created[0]["secret"].split(".")[2] not in repr(dict(stored[0]))


async def test_bad_key_requests_are_refused_and_store_nothing(
    api: Api, other_api: Api, migrated: Settings
) -> None:
    ledger, theirs = await new_ledger(api), await new_ledger(other_api)
    await ledger.customer_wallet("customer-1")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    before = await key_count(migrated, api)
    refusals: list[tuple[Any, int, str]] = [
        ({"name": "x", "scope": "admin"}, 400, "ValidationError"),
        ({"name": "x"}, 400, "ValidationError"),
        ({"scope": "read"}, 400, "ValidationError"),
        ({"name": "x", "scope": "read", "colour": "red"}, 400, "ValidationError"),
        ({"name": "x", "scope": "customer"}, 400, "ValidationError"),
        ({"name": "x", "scope": "read", "projectId": ledger.project_id}, 400, "ValidationError"),
        ({"name": "x", "scope": "read", "expiresAt": past}, 400, "ValidationError"),
        (
            {"name": "x", "scope": "read", "expiresAt": "2030-01-01T00:00:00"},
            400,
            "ValidationError",
        ),
        ({"name": "x", "scope": "read", "expiresAt": "tomorrow"}, 400, "ValidationError"),
        ({"name": "x", "scope": "read", "rateLimitPerS": 0}, 400, "ValidationError"),
        ({"name": "x", "scope": "read", "oauthClient": "yes"}, 400, "ValidationError"),
        ({"name": "x", "scope": "read", "rateLimitBurst": "5"}, 400, "ValidationError"),
        (
            {
                "name": "x",
                "scope": "customer",
                "projectId": theirs.project_id,
                "customerId": "customer-1",
            },
            404,
            "ProjectNotFound",
        ),
        (
            {
                "name": "x",
                "scope": "customer",
                "projectId": ledger.project_id,
                "customerId": "nobody",
            },
            404,
            "CustomerNotFound",
        ),
        ([1, 2], 400, "ValidationError"),
    ]
    for body, status, code in refusals:
        reply = await api.post("/keys", body)
        assert (reply.status, reply.body["error"]["code"]) == (status, code), (body, reply.body)
    assert (await api.call("POST", "/keys", raw=b"{")).status == 400
    assert await key_count(migrated, api) == before


async def test_read_keys_only_read_and_only_full_keys_manage_keys(api: Api) -> None:
    ledger = await new_ledger(api)
    read = as_key(api, (await api.created("/keys", {"name": "r", "scope": "read"}))["secret"])
    assert (await read.get(f"/projects/{ledger.project_id}/wallets")).status == 200
    for method, path, body in (
        ("POST", "/projects", {"name": "p"}),
        ("PUT", f"/projects/{ledger.project_id}/name", {"name": "p"}),
        ("POST", f"/projects/{ledger.project_id}/transactions", {"bad": "body"}),
        ("GET", "/keys", None),
        ("POST", "/keys", {"name": "k", "scope": "full"}),
        ("DELETE", f"/keys/{read.api_key.split('.')[1]}", None),
    ):
        reply = await read.call(method, path, body)
        assert (reply.status, reply.body["error"]["code"]) == (403, "Forbidden"), (method, path)


async def test_a_revoked_key_answers_401_on_every_gateway_within_a_second(
    api: Api, http_session: aiohttp.ClientSession, migrated: Settings
) -> None:
    key = await api.created("/keys", {"name": "soon revoked", "scope": "read"})
    async with serving(create_app(migrated)) as other_url:
        elsewhere = Api(http_session, other_url, key["secret"])
        here = as_key(api, key["secret"])
        await asyncio.sleep(0.2)  # the second gateway's subscription to the notices
        assert (await elsewhere.get("/projects")).status == 200  # now cached there
        assert (await here.get("/projects")).status == 200
        revoked_at = time.monotonic()
        assert (await api.delete(f"/keys/{key['id']}")).status == 204
        assert (await here.get("/projects")).status == 401
        while (await elsewhere.get("/projects")).status != 401:
            assert time.monotonic() - revoked_at < 1.0
            await asyncio.sleep(0.01)
    listed = await api.get("/keys?pageSize=500")
    assert key["id"] not in [item["id"] for item in listed.body["items"]]
    assert (await api.delete(f"/keys/{key['id']}")).body["error"]["code"] == "KeyNotFound"


async def test_another_tenants_key_cannot_be_revoked(api: Api, other_api: Api) -> None:
    theirs = await other_api.created("/keys", {"name": "theirs", "scope": "read"})
    missing = await api.delete("/keys/01MISSING00000000000000000")
    foreign = await api.delete(f"/keys/{theirs['id']}")
    assert (foreign.status, foreign.body["error"]["code"]) == (404, "KeyNotFound")
    assert missing.status == 404
    assert (await as_key(other_api, theirs["secret"]).get("/projects")).status == 200
    assert (await api.delete("/keys/not-a-key-id!")).status == 400


async def test_an_expired_key_answers_401(api: Api) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    key = await api.created(
        "/keys", {"name": "brief", "scope": "full", "expiresAt": expires.isoformat()}
    )
    brief = as_key(api, key["secret"])
    assert (await brief.get("/projects")).status == 200
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    reply = await brief.get("/projects")
    assert (reply.status, reply.body["error"]["code"]) == (401, "Unauthorized")
    listed = await api.get("/keys?pageSize=500")
    assert key["id"] in [item["id"] for item in listed.body["items"]]  # listed until revoked


def cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.ops.cli", "keys", *arguments],
        env=settings_environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_command_line_creates_lists_and_revokes_keys(
    api: Api, migrated: Settings
) -> None:
    tenant = f"cli-{time.time_ns()}"
    created = await asyncio.to_thread(
        cli, migrated, "create", "--tenant", tenant, "--scope", "read"
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    key_id = secret.split(".")[1]
    assert (await as_key(api, secret).get("/projects")).status == 200
    listed = await asyncio.to_thread(cli, migrated, "list", "--tenant", tenant)
    assert listed.returncode == 0, listed.stderr
    assert key_id in listed.stdout and "read" in listed.stdout
    assert secret.split(".")[2] not in listed.stdout
    revoked = await asyncio.to_thread(cli, migrated, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 1.0
    while (await as_key(api, secret).get("/projects")).status != 401:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    again = await asyncio.to_thread(cli, migrated, "revoke", key_id)
    assert again.returncode == 2 and "not found" in again.stderr
    unknown = await asyncio.to_thread(cli, migrated, "list", "--tenant", f"{tenant}-none")
    assert unknown.returncode == 2
