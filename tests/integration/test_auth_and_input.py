"""Authentication, tenancy and bad input: every route needs a valid key, another tenant's
project answers exactly like a missing one, and bad input is a 400 that stores and publishes
nothing."""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as redis

from shared.redis.status_cache import reference_key
from tests.support import Api, Ledger, namespace_settings


async def test_every_kind_of_missing_or_wrong_key_is_401(api: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Bearer cw.x.y"},
        {"Authorization": "Basic abc"},
        {"X-Api-Key": api.api_key[:-1] + ("A" if api.api_key[-1] != "A" else "B")},
    ):
        reply = await api.session.get(api.base_url + "/projects", headers=headers)
        body = await reply.json()
        assert (reply.status, body["error"]["code"]) == (401, "Unauthorized"), headers


async def test_x_api_key_header_is_accepted(api: Api) -> None:
    reply = await api.session.get(api.base_url + "/projects", headers={"X-Api-Key": api.api_key})
    assert reply.status == 200


async def test_another_tenants_project_answers_like_a_missing_one(
    ledger: Ledger, other_api: Api
) -> None:
    wallet = await ledger.system_wallet()
    project = ledger.project_id
    for path in (
        f"/projects/{project}",
        f"/projects/{project}/assets",
        f"/projects/{project}/assets/{ledger.asset_id}",
        f"/projects/{project}/wallets/{wallet}",
        f"/projects/{project}/system-wallets",
    ):
        theirs = await other_api.get(path)
        missing = await other_api.get(path.replace(project, "01MISSINGPROJECT0000000000"))
        assert theirs.status == missing.status == 404, path
        assert theirs.body["error"]["code"] == missing.body["error"]["code"] == "ProjectNotFound"
    listed = await other_api.get("/projects")
    assert listed.body["items"] == []
    submit = await other_api.post(
        f"/projects/{project}/transactions",
        {"referenceId": "x", "operations": [{"type": "Issue", "to": wallet, "amount": "1"}]},
    )
    assert submit.status == 404
    assert await ledger.api.balance(project, wallet) == 0


BAD_BODIES = [
    (b"{", "body"),
    (b"[]", "body"),
    (b'{"operations": [{"type": "Issue", "to": "w", "amount": "1"}]}', "referenceId"),
    (
        b'{"referenceId": "", "operations": [{"type": "Issue", "to": "w", "amount": "1"}]}',
        "referenceId",
    ),
    (
        b'{"referenceId": "' + b"x" * 129 + b'", "operations": [{"type": "Issue", "to": "w",'
        b' "amount": "1"}]}',
        "referenceId",
    ),
    (b'{"referenceId": "r", "operations": []}', "operations"),
    (
        b'{"referenceId": "r", "operations": ['
        + b",".join([b'{"type": "Issue", "to": "w", "amount": "1"}'] * 101)
        + b"]}",
        "operations",
    ),
    (b'{"referenceId": "r", "operations": [{"type": "Issue", "to": "w", "amount": 1.5}]}', "body"),
    (
        b'{"referenceId": "r", "operations": [{"type": "Issue", "to": "w", "amount": "-3"}]}',
        "operations[0].amount",
    ),
    (
        b'{"referenceId": "r", "operations": [{"type": "Issue", "to": "w", "amount": "0"}]}',
        "operations[0].amount",
    ),
    (
        b'{"referenceId": "r", "operations": [{"type": "Issue", "to": "w", "amount": "ten"}]}',
        "operations[0].amount",
    ),
    (
        b'{"referenceId": "r", "operations": [{"type": "Transfer", "to": "w", "amount": "1"}]}',
        "operations[0].from",
    ),
    (
        b'{"referenceId": "r", "operations": [{"type": "Issue", "to": "w", "amount": "1"}],'
        b' "extra": 1}',
        "extra",
    ),
]


@pytest.mark.parametrize(("raw", "field"), BAD_BODIES)
async def test_bad_transactions_are_400_and_leave_no_trace(
    ledger: Ledger, raw: bytes, field: str
) -> None:
    reply = await ledger.api.call(
        "POST",
        f"/projects/{ledger.project_id}/transactions",
        raw=raw,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 400
    assert reply.body["error"]["code"] == "ValidationError"
    assert field in [item["field"] for item in reply.body["error"]["details"]["fields"]]
    settings = namespace_settings()
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        stored = await connection.fetchval(
            "SELECT count(*) FROM transactions WHERE project_id = $1", ledger.project_id
        )
    finally:
        await connection.close()
    assert stored == 0
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        assert await client.exists(reference_key(ledger.project_id, "r")) == 0
    finally:
        await client.aclose()


async def test_oversized_body_is_413(ledger: Ledger) -> None:
    reply = await ledger.api.call(
        "POST",
        f"/projects/{ledger.project_id}/transactions",
        raw=b" " * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert (reply.status, reply.body["error"]["code"]) == (413, "PayloadTooLarge")


async def test_unknown_routes_and_methods_use_the_error_shape(api: Api) -> None:
    missing = await api.get("/no/such/route")
    assert (missing.status, missing.body["error"]["code"]) == (404, "RouteNotFound")
    wrong = await api.call("PATCH", "/projects")
    assert (wrong.status, wrong.body["error"]["code"]) == (405, "MethodNotAllowed")
