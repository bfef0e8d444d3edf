"""Redis taken away from a gateway process (a proxy between them is cut, or stalls): submits
fail closed with 503 and Retry-After, reads of finished transactions come from PostgreSQL, a
read that only Redis could answer is a 503 rather than a false 404, and everything works again,
with nothing applied twice, once Redis is back. A reservation left by a command that timed out
at the gateway but ran in Redis later never turns into a false 409."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from shared.ids import new_id
from shared.settings import Settings
from tests.faults.processes import Processes
from tests.proxy import REDIS_PORT, proxy_to, through
from tests.support import Api, assert_ledger_consistent, create_tenant_key, new_ledger

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
STALL_BOUND_S = 5  # the Redis client's socket timeout is 2 s


async def submit_until_accepted(
    api: Api, path: str, reference_id: str, operations: list[dict[str, Any]]
) -> tuple[str, set[tuple[int, str]]]:
    """Retry as a client does; return the accepted id and every other answer on the way."""
    answers = set()
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        reply = await api.post(path, {"referenceId": reference_id, "operations": operations})
        if reply.status == 202:
            return str(reply.body["id"]), answers
        answers.add((reply.status, reply.body["error"]["code"]))
        await asyncio.sleep(0.2)
    raise AssertionError(f"{reference_id} was not accepted: {answers}")


async def test_gateway_fails_closed_while_redis_is_away(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    async with proxy_to(REDIS_PORT) as proxy:
        gateway_settings = through(
            fault_settings, proxy, publish_confirm_timeout_ms=1000, reference_pending_ttl_s=2
        )
        _, url = await processes.gateway(session, settings=gateway_settings)
        await processes.worker("worker-1")
        api = Api(session, url, await create_tenant_key(fault_settings))
        ledger = await new_ledger(api)
        project, wallet = ledger.project_id, await ledger.system_wallet()
        issue = [{"type": "Issue", "to": wallet, "amount": "7"}]
        before = await api.run(project, issue, reference_id="before-the-outage")
        submit = f"/projects/{project}/transactions"

        await proxy.cut()
        refused = await api.post(submit, {"referenceId": "during-the-outage", "operations": issue})
        assert refused.status == 503, refused.body
        assert refused.headers["Retry-After"] == str(fault_settings.retry_after_s)
        assert refused.body["error"]["code"] == "ServiceUnavailable"
        read = await api.get(f"/projects/{project}/transactions/{before['id']}")
        assert (read.status, read.body) == (200, before)
        unknown = await api.get(f"/projects/{project}/transactions/{new_id()}")
        assert unknown.status == 503, unknown.body
        assert "Retry-After" in unknown.headers
        assert (await api.get(f"/projects/{project}/wallets/{wallet}")).status == 200

        await proxy.restore()
        proxy.pause()  # a Redis that stops answering is bounded by the client's socket timeout
        started = asyncio.get_running_loop().time()
        stalled = await api.post(submit, {"referenceId": "during-the-outage", "operations": issue})
        assert stalled.status == 503, stalled.body
        assert asyncio.get_running_loop().time() - started < STALL_BOUND_S
        proxy.resume()
        accepted_id, answers = await submit_until_accepted(api, submit, "during-the-outage", issue)
        assert answers <= {(503, "ReferenceIdInProgress")}, answers
        retried = await api.final(project, accepted_id)
        assert retried["status"] == "Completed"
        again = await api.post(submit, {"referenceId": "before-the-outage", "operations": issue})
        assert again.status == 409
        assert again.body["error"]["details"]["transaction"]["id"] == before["id"]
        assert await api.balance(project, wallet) == 14
        await assert_ledger_consistent(
            fault_settings,
            project,
            [(before["id"], "before-the-outage"), (retried["id"], "during-the-outage")],
        )
