"""Reference-ID reservations in Redis, read back from the real Redis: a confirmed publish keeps
its reservation for `reference_ttl_s`, and one left unconfirmed (a gateway that died before its
publish was confirmed) is answered 503 rather than a 409 pointing at a transaction that may
never exist, and frees its reference ID once its short TTL runs out."""

from __future__ import annotations

import asyncio

import orjson
import redis.asyncio as redis

from shared.ids import new_id
from shared.redis.status_cache import StatusCache, reference_key
from shared.settings import Settings
from tests.support import Ledger

UNCONFIRMED_TTL_S = 1


async def test_a_confirmed_reservation_is_kept_for_the_reference_ttl(
    ledger: Ledger, migrated: Settings
) -> None:
    wallet = await ledger.system_wallet()
    accepted = await ledger.api.submit(
        ledger.project_id, [{"type": "Issue", "to": wallet, "amount": "1"}], "kept"
    )
    client = redis.Redis.from_url(migrated.redis_url.get_secret_value())
    try:
        key = reference_key(ledger.project_id, "kept")
        ttl_s = await client.ttl(key)
        holder = orjson.loads(await client.get(key))
    finally:
        await client.aclose()
    assert migrated.reference_pending_ttl_s < ttl_s <= migrated.reference_ttl_s
    assert (holder["id"], holder["confirmed"]) == (accepted["id"], True)


async def test_an_unconfirmed_reservation_is_a_503_until_it_expires(
    ledger: Ledger, migrated: Settings
) -> None:
    wallet = await ledger.system_wallet()
    operations = [{"type": "Issue", "to": wallet, "amount": "1"}]
    client = redis.Redis.from_url(migrated.redis_url.get_secret_value())
    try:
        died = StatusCache(
            client,
            reference_ttl_s=migrated.reference_ttl_s,
            status_ttl_s=migrated.status_ttl_s,
            reference_pending_ttl_s=UNCONFIRMED_TTL_S,
        )
        pending = {"id": new_id(), "status": "Pending"}
        assert await died.reserve(ledger.project_id, "orphan", new_id(), b"\0", pending) is None
    finally:
        await client.aclose()
    path = f"/projects/{ledger.project_id}/transactions"
    refused = await ledger.api.post(path, {"referenceId": "orphan", "operations": operations})
    assert refused.status == 503
    assert refused.body["error"]["code"] == "ReferenceIdInProgress"
    assert refused.headers["Retry-After"] == str(migrated.retry_after_s)
    await asyncio.sleep(UNCONFIRMED_TTL_S + 0.2)
    done = await ledger.api.run(ledger.project_id, operations, "orphan")
    assert done["status"] == "Completed"
