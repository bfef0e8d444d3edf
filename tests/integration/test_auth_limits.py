"""Failed authentication is limited per client address (issue 21): after
`auth_failures_per_address_max` failures an address is answered 429 TooManyRequests with
Retry-After, in the error shape, without a database query (its gateway's PostgreSQL is cut and
the answer is still 429, not 503); valid keys never count; a key the gateway knows keeps
working from the limited address, one it has never seen waits for the Retry-After; another
address is not affected; and the address regains attempts over `auth_failure_window_s`. The
clients are 127.0.0.1 and 127.0.0.2, both this machine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from shared.ids import new_api_key
from shared.settings import Settings
from tests.conformance import check_reply
from tests.integration.test_database_outage import gateway_behind_proxy
from tests.support import Api, Reply, create_tenant_key

FAILURES_MAX = 5
WINDOW_S = 60
ATTEMPTS = 20


@pytest.fixture
async def other_address() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from 127.0.0.2."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_wrong_keys_from_one_address_are_limited_and_valid_keys_are_not(
    api: Api,
    migrated: Settings,
    http_session: aiohttp.ClientSession,
    other_address: aiohttp.ClientSession,
) -> None:
    limits = {"auth_failures_per_address_max": FAILURES_MAX, "auth_failure_window_s": WINDOW_S}
    _, unknown_key = new_api_key()
    wrong_keys = [wrong_secret(api.api_key), unknown_key, "cw.x.y", "nope", None]
    async with gateway_behind_proxy(migrated, **limits) as (url, proxy):
        for _ in range(2 * FAILURES_MAX):  # successes do not count
            assert (await attempt(http_session, url, api.api_key)).status == 200
        replies = [
            await attempt(http_session, url, wrong_keys[number % len(wrong_keys)])
            for number in range(ATTEMPTS)
        ]
        assert [reply.status for reply in replies] == [401] * FAILURES_MAX + [429] * (
            ATTEMPTS - FAILURES_MAX
        )
        for reply in replies[FAILURES_MAX:]:
            assert reply.body["error"]["code"] == "TooManyRequests", reply.body
            assert 1 <= int(reply.headers["Retry-After"]) <= WINDOW_S / FAILURES_MAX
        # A key the gateway knows keeps working from the limited address; one it would have to
        # look up waits, while another address is served as usual.
        assert (await attempt(http_session, url, api.api_key)).status == 200
        unseen = await create_tenant_key(migrated)
        assert (await attempt(http_session, url, unseen)).status == 429
        assert (await attempt(other_address, url, wrong_secret(unseen))).status == 401
        assert (await attempt(other_address, url, unseen)).status == 200
        assert (await attempt(http_session, url, unseen)).status == 200  # now known
        # The limited address makes the gateway ask PostgreSQL nothing.
        await proxy.cut()
        _, another_unknown_key = new_api_key()
        assert (await attempt(http_session, url, another_unknown_key)).status == 429
        assert (await attempt(other_address, url, another_unknown_key)).status == 503


async def test_a_limited_address_regains_attempts_over_the_window(
    api: Api, migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    limits = {"auth_failures_per_address_max": 2, "auth_failure_window_s": 2}  # one a second
    wrong = wrong_secret(api.api_key)
    async with gateway_behind_proxy(migrated, **limits) as (url, _):
        statuses = [(await attempt(http_session, url, wrong)).status for _ in range(3)]
        assert statuses == [401, 401, 429]
        refused = await attempt(http_session, url, wrong)
        assert refused.status == 429
        await asyncio.sleep(int(refused.headers["Retry-After"]))
        assert (await attempt(http_session, url, wrong)).status == 401
        assert (await attempt(http_session, url, wrong)).status == 429


def wrong_secret(api_key: str) -> str:
    return api_key[:-1] + ("A" if api_key[-1] != "A" else "B")


async def attempt(session: aiohttp.ClientSession, url: str, api_key: str | None) -> Reply:
    """GET /projects with `api_key` (None: no key at all), checked against the document."""
    headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
    async with session.get(url + "/projects", headers=headers) as response:
        body = json.loads(await response.read())
        check_reply("GET", "/projects", response.status, body)
        return Reply(response.status, body, dict(response.headers))
