"""OAuth2 client credentials (RFC 6749 section 4.4, design section 10): a client made by
`POST /keys` with oauthClient trades its id and secret, by HTTP Basic or in the form body, for a
Bearer token (a JWT with `kid` in its header) that acts with the client's scope, or a narrower
one, until it expires or the client is revoked. Bad requests answer RFC 6749's errors (400
invalid_request, unsupported_grant_type, invalid_scope; 401 invalid_client), never 500, and
store nothing; bad tokens (malformed, unknown kid, expired, forged) answer 401."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from typing import Any

import aiohttp
import jwt

from gateway.oauth import ADD_SIGNING_KEY, ALGORITHM, ISSUER
from shared.ids import new_id
from shared.settings import Settings
from tests.support import Api, fetch_rows, new_ledger

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def token_request(
    api: Api, body: str | bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    sent = FORM | (headers or {})
    async with api.session.post(api.base_url + "/oauth/token", data=body, headers=sent) as reply:
        return reply.status, await reply.json(content_type=None), dict(reply.headers)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def new_client(api: Api, scope: str = "full", **extra: Any) -> dict[str, Any]:
    return await api.created(
        "/keys", {"name": "client", "scope": scope, "oauthClient": True} | extra
    )


def bearer(api: Api, token: str) -> Api:
    return Api(api.session, api.base_url, token)


async def test_basic_and_body_credentials_give_a_bearer_token_with_the_clients_scope(
    api: Api,
) -> None:
    client = await new_client(api)
    by_basic = await token_request(
        api, "grant_type=client_credentials", basic(client["id"], client["secret"])
    )
    by_body = await token_request(
        api,
        f"grant_type=client_credentials&client_id={client['id']}&client_secret={client['secret']}",
    )
    for status, body, headers in (by_basic, by_body):
        assert status == 200, body
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        assert body["scope"] == "full"
        assert headers["Cache-Control"] == "no-store"
        assert jwt.get_unverified_header(body["access_token"])["kid"]
        assert (await bearer(api, body["access_token"]).get("/projects")).status == 200
    created = await bearer(api, by_basic[1]["access_token"]).post("/projects", {"name": "p"})
    assert created.status == 201


async def test_a_token_may_be_narrower_than_its_client_never_wider(api: Api) -> None:
    full, read = await new_client(api), await new_client(api, "read")
    status, body, _ = await token_request(
        api, "grant_type=client_credentials&scope=read", basic(full["id"], full["secret"])
    )
    assert (status, body["scope"]) == (200, "read")
    narrowed = bearer(api, body["access_token"])
    assert (await narrowed.get("/projects")).status == 200
    refused = await narrowed.post("/projects", {"name": "p"})
    assert (refused.status, refused.body["error"]["code"]) == (403, "Forbidden")
    for client, scope in ((read, "full"), (full, "admin"), (full, "read full"), (read, "customer")):
        status, body, _ = await token_request(
            api,
            f"grant_type=client_credentials&scope={scope}",
            basic(client["id"], client["secret"]),
        )
        assert (status, body["error"]) == (400, "invalid_scope"), (scope, body)


async def test_bad_token_requests_answer_rfc_6749_errors_and_store_nothing(
    api: Api, migrated: Settings
) -> None:
    client = await new_client(api)
    key = await api.created("/keys", {"name": "plain", "scope": "full"})
    good = f"client_id={client['id']}&client_secret={client['secret']}"
    wrong_secret = client["secret"][:-2] + ("AA" if not client["secret"].endswith("AA") else "BB")
    before = await fetch_rows(migrated, "SELECT count(*) AS n FROM api_keys")
    cases: list[tuple[str | bytes, dict[str, str], int, str]] = [
        (good, {}, 400, "invalid_request"),  # no grant_type
        ("grant_type=password&" + good, {}, 400, "unsupported_grant_type"),
        (
            "grant_type=client_credentials&grant_type=client_credentials&" + good,
            {},
            400,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&" + good + f"&client_id={client['id']}",
            {},
            400,
            "invalid_request",
        ),
        ("grant_type=client_credentials", {}, 401, "invalid_client"),
        ("grant_type=client_credentials&client_id=" + client["id"], {}, 401, "invalid_client"),
        (
            f"grant_type=client_credentials&client_id={client['id']}&client_secret={wrong_secret}",
            {},
            401,
            "invalid_client",
        ),
        (
            f"grant_type=client_credentials&client_id={key['id']}&client_secret={key['secret']}",
            {},
            401,
            "invalid_client",
        ),
        ("grant_type=client_credentials", basic(client["id"], wrong_secret), 401, "invalid_client"),
        ("grant_type=client_credentials", basic(new_id(), client["secret"]), 401, "invalid_client"),
        ("grant_type=client_credentials", {"Authorization": "Basic !!!"}, 401, "invalid_client"),
        ("grant_type=client_credentials", {"Authorization": "Bearer x"}, 401, "invalid_client"),
        (
            "grant_type=client_credentials&client_secret=" + client["secret"],
            basic(client["id"], client["secret"]),
            400,
            "invalid_request",
        ),
        (
            '{"grant_type": "client_credentials"}',
            {"Content-Type": "application/json"},
            400,
            "invalid_request",
        ),
        (b"grant_type=\xff\xfe", {}, 400, "invalid_request"),
        ("grant_type", {}, 400, "invalid_request"),
        ("&&&", {}, 400, "invalid_request"),
        ("a=1&" * 100, {}, 400, "invalid_request"),
    ]
    for body, headers, status, error in cases:
        answered, reply, reply_headers = await token_request(api, body, headers)
        assert (answered, reply.get("error")) == (status, error), (body, headers, reply)
        assert reply["error_description"]
        if "Authorization" in headers and status == 401:
            assert reply_headers["WWW-Authenticate"].startswith("Basic")
    # Unknown parameters are ignored (RFC 6749 section 3.2).
    status, _, _ = await token_request(api, "grant_type=client_credentials&colour=red&" + good)
    assert status == 200
    assert await fetch_rows(migrated, "SELECT count(*) AS n FROM api_keys") == before


async def test_tokens_die_with_their_client_within_a_second(api: Api) -> None:
    client = await new_client(api)
    _, body, _ = await token_request(
        api, "grant_type=client_credentials", basic(client["id"], client["secret"])
    )
    holder = bearer(api, body["access_token"])
    assert (await holder.get("/projects")).status == 200
    revoked_at = time.monotonic()
    assert (await api.delete(f"/keys/{client['id']}")).status == 204
    while (await holder.get("/projects")).status != 401:
        assert time.monotonic() - revoked_at < 1.0
        await asyncio.sleep(0.01)
    status, reply, _ = await token_request(
        api, "grant_type=client_credentials", basic(client["id"], client["secret"])
    )
    assert (status, reply["error"]) == (401, "invalid_client")


async def test_bad_tokens_and_authorization_headers_answer_401(
    api: Api, migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    client = await new_client(api)
    rows = await fetch_rows(
        migrated, "SELECT kid, secret FROM oauth_signing_keys ORDER BY created_at DESC LIMIT 1"
    )
    kid, secret = rows[0]["kid"], bytes(rows[0]["secret"])
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": client["id"], "scope": "full", "iat": now, "exp": now + 60}

    def signed(claims: dict[str, Any], key: bytes = secret, kid: str = kid) -> str:
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})

    assert (await bearer(api, signed(claims)).get("/projects")).status == 200
    bad_tokens = [
        signed(claims | {"exp": now - 1}),  # expired
        signed(claims, kid="sk-unknown"),  # unknown kid
        signed(claims, key=secrets.token_bytes(32)),  # forged
        signed(claims | {"scope": "root"}),
        signed(claims | {"sub": new_id()}),  # no such client
        signed({key: value for key, value in claims.items() if key != "exp"}),
        jwt.encode(claims, secret * 2, algorithm="HS512", headers={"kid": kid}),
        jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        "eyJ.not.a.token",
        "eyJhbGciOiJIUzI1NiJ9",
    ]
    for token in bad_tokens:
        reply = await bearer(api, token).get("/projects")
        assert (reply.status, reply.body["error"]["code"]) == (401, "Unauthorized"), token
    for header in ("Bearer", "Bearer ", "Bearer a b", "Basic abc", "bearer\tx", "Token x" * 100):
        async with http_session.get(
            api.base_url + "/projects", headers={"Authorization": header}
        ) as response:
            assert response.status == 401, header


async def test_a_new_signing_key_is_used_by_gateways_without_a_restart(
    api: Api, migrated: Settings
) -> None:
    client = await new_client(api)
    kid, secret = f"sk-test-{new_id()}", secrets.token_bytes(32)
    await fetch_rows(migrated, ADD_SIGNING_KEY + " RETURNING kid", kid, secret)
    now = int(time.time())
    token = jwt.encode(
        {"iss": ISSUER, "sub": client["id"], "scope": "read", "iat": now, "exp": now + 60},
        secret,
        algorithm=ALGORITHM,
        headers={"kid": kid},
    )
    await asyncio.sleep(1.1)  # a token naming an unknown kid reads the keys again, once a second
    assert (await bearer(api, token).get("/projects")).status == 200
    await fetch_rows(migrated, "DELETE FROM oauth_signing_keys WHERE kid = $1 RETURNING kid", kid)


async def test_a_customer_clients_token_is_confined_to_its_customer(api: Api) -> None:
    ledger = await new_ledger(api)
    wallet = await ledger.customer_wallet("customer-1")
    other = await ledger.customer_wallet("customer-2")
    client = await new_client(api, "customer", projectId=ledger.project_id, customerId="customer-1")
    _, body, _ = await token_request(
        api, "grant_type=client_credentials", basic(client["id"], client["secret"])
    )
    assert body["scope"] == "customer"
    holder = bearer(api, body["access_token"])
    base = f"/projects/{ledger.project_id}"
    assert (await holder.get(f"{base}/wallets/{wallet}")).status == 200
    assert (await holder.get(f"{base}/wallets/{other}")).status == 404
    assert (await holder.get(f"{base}/wallets")).status == 403
