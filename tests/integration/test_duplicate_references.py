"""A duplicate referenceId answers 409 with the transaction that holds it whenever PostgreSQL or
Redis holds it: after Redis lost the reference (its keys deleted, as a flush, an eviction or
the reference TTL would), a resubmission is a 409 naming the original, with `requestMatches`
compared with the original's request; concurrent duplicates of a submission still being
published wait for its confirm and answer 409, not 503. Run against the real services through
the gateway and worker of the test process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis

from gateway.db import Database
from gateway.duplicates import Duplicates
from gateway.references import AppliedReferences
from gateway.states import TransactionStates
from gateway.submission import ClientGone, Submitter, prepare
from shared.amqp.publisher import Publisher
from shared.contract.messages import SubmitTransaction
from shared.database import create_pool
from shared.redis.status_cache import StatusCache, reference_key
from shared.settings import Settings
from tests.support import Ledger, fetch_rows, issue, transfer

CONCURRENT_DUPLICATES = 50


@pytest.fixture
async def submitter(migrated: Settings) -> AsyncIterator[Submitter]:
    """The gateway's submission service, on connections of its own."""
    pool = await create_pool(migrated, size_max=2, application_name="cloudwallet-test")
    cache = StatusCache.open(migrated)
    publisher = await Publisher.open(migrated)
    database = Database(pool, query_timeout_ms=migrated.database_query_timeout_ms)
    references = AppliedReferences(migrated)
    try:
        yield Submitter(
            migrated,
            cache,
            publisher,
            references,
            Duplicates(migrated, cache, TransactionStates(cache, database)),
        )
    finally:
        await references.close()
        await publisher.close()
        await cache.close()
        await pool.close()


async def forget_project_in_redis(settings: Settings, project_id: str) -> int:
    """Delete every reference and status key of the project, as a flush would."""
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        keys = [key async for key in client.scan_iter(match=f"cw:*:{project_id}:*", count=1000)]
        return int(await client.delete(*keys)) if keys else 0
    finally:
        await client.aclose()


async def funded(ledger: Ledger) -> tuple[str, str]:
    treasury = await ledger.system_wallet()
    customer = await ledger.customer_wallet()
    await ledger.api.run(ledger.project_id, [issue(treasury, 1000)], "funding")
    return treasury, customer


async def test_a_reference_redis_lost_is_a_409_naming_the_original(
    ledger: Ledger, migrated: Settings
) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, customer = await funded(ledger)
    original = await api.run(project, [transfer(treasury, customer, 10)], "order-r")
    assert await forget_project_in_redis(migrated, project) > 0

    path = f"/projects/{project}/transactions"
    other = {"referenceId": "order-r", "operations": [transfer(treasury, customer, 99)]}
    same = {"referenceId": "order-r", "operations": [transfer(treasury, customer, 10)]}
    for body, matches in ((other, False), (same, True), (other, False)):
        reply = await api.post(path, body)
        assert reply.status == 409, reply.body
        assert reply.body["error"]["code"] == "DuplicateReferenceId"
        details = reply.body["error"]["details"]
        assert details["requestMatches"] is matches, (body, details)
        assert details["transaction"] == original

    await asyncio.sleep(0.3)  # anything wrongly published would be applied by now
    assert await api.balance(project, customer) == 10
    aliases = await fetch_rows(
        migrated, "SELECT id FROM transaction_aliases WHERE project_id = $1", project
    )
    assert aliases == []


async def test_the_batch_route_answers_a_lost_reference_with_409(
    ledger: Ledger, migrated: Settings
) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, customer = await funded(ledger)
    original = await api.run(project, [transfer(treasury, customer, 5)], "order-b")
    await forget_project_in_redis(migrated, project)

    reply = await api.post(
        f"/projects/{project}/transactions/batch",
        {
            "transactions": [
                {"referenceId": "order-b", "operations": [transfer(treasury, customer, 5)]},
                {"referenceId": "order-b", "operations": [transfer(treasury, customer, 6)]},
                {"referenceId": "order-c", "operations": [transfer(treasury, customer, 7)]},
            ]
        },
    )
    assert reply.status == 202, reply.body
    statuses = [item["status"] for item in reply.body["items"]]
    assert statuses == [409, 409, 202]
    first, repeat = (reply.body["items"][index]["body"]["error"] for index in (0, 1))
    assert first["details"] == {"requestMatches": True, "transaction": original}
    assert repeat["details"] == {"requestMatches": False, "transaction": original}
    done = await api.final(project, reply.body["items"][2]["body"]["id"])
    assert done["status"] == "Completed"
    assert await api.balance(project, customer) == 12


async def test_concurrent_duplicates_wait_for_the_first_publish(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, customer = await funded(ledger)
    body = {"referenceId": "at-once", "operations": [transfer(treasury, customer, 3)]}
    path = f"/projects/{project}/transactions"
    replies = await asyncio.gather(*(api.post(path, body) for _ in range(CONCURRENT_DUPLICATES)))
    accepted = [reply for reply in replies if reply.status == 202]
    duplicates = [reply for reply in replies if reply.status == 409]
    assert len(accepted) == 1, sorted(reply.status for reply in replies)
    assert len(duplicates) == CONCURRENT_DUPLICATES - 1, sorted(r.status for r in replies)
    for reply in duplicates:
        details = reply.body["error"]["details"]
        assert details["requestMatches"] is True
        assert details["transaction"]["id"] == accepted[0].body["id"]
    done = await api.final(project, accepted[0].body["id"])
    assert done["status"] == "Completed"
    assert await api.balance(project, customer) == 3


async def test_nothing_is_published_for_a_client_that_left(
    ledger: Ledger, migrated: Settings, submitter: Submitter
) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, customer = await funded(ledger)
    body = SubmitTransaction.model_validate(
        {"referenceId": "left", "operations": [transfer(treasury, customer, 4)]},
        context={"operations_per_transaction_max": 100, "reference_id_length_max": 128},
    )
    submission = prepare(project, body, datetime.now(UTC))
    with pytest.raises(ClientGone):
        await submitter.submit(project, submission, client_gone=lambda: True)
    client = redis.Redis.from_url(migrated.redis_url.get_secret_value())
    try:
        assert await client.get(reference_key(project, "left")) is None
    finally:
        await client.aclose()
    # The reference ID is free again, and nothing was applied under it meanwhile.
    await asyncio.sleep(0.3)
    assert await api.balance(project, customer) == 0
    again = await api.run(project, [transfer(treasury, customer, 4)], "left")
    assert again["status"] == "Completed"


async def test_metadata_is_part_of_the_request_redis_lost(
    ledger: Ledger, migrated: Settings
) -> None:
    """The 409 of a reference only PostgreSQL still holds shows the transaction's metadata, and
    a resubmission with other metadata does not match."""
    api, project = ledger.api, ledger.project_id
    treasury, customer = await funded(ledger)
    path = f"/projects/{project}/transactions"
    body = {
        "referenceId": "order-m",
        "operations": [transfer(treasury, customer, 3)],
        "metadata": {"orderId": "A-7"},
    }
    accepted = await api.post(path, body)
    original = await api.final(project, accepted.body["id"])
    assert original["metadata"] == {"orderId": "A-7"}
    await forget_project_in_redis(migrated, project)
    for metadata, matches in (({"orderId": "A-7"}, True), ({"orderId": "A-8"}, False)):
        reply = await api.post(path, {**body, "metadata": metadata})
        assert reply.status == 409, reply.body
        details = reply.body["error"]["details"]
        assert details["requestMatches"] is matches
        assert details["transaction"] == original
