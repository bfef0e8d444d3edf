"""The batch submission route through the in-process gateway and worker on the real services:
each item is accepted or refused on its own (bad items, duplicates within the batch and of
earlier transactions), accepted items apply in the order sent, and the limits hold (items per
batch, requests in flight)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import orjson
import redis.asyncio as redis
from aiohttp import web

from gateway.app import create_app
from gateway.app_keys import SUBMISSION_LIMITS
from gateway.responses import TransactionBatchResult
from shared.amqp.broker import TRANSACTIONS_EXCHANGE
from shared.contract.messages import (
    TRANSACTION_BATCH_TYPE,
    TransactionBatchMessage,
    TransactionMessage,
)
from shared.contract.partition import partition_of, routing_key
from shared.redis.status_cache import reference_key
from shared.settings import Settings
from tests.support import (
    Api,
    Ledger,
    assert_ledger_consistent,
    create_tenant_key,
    namespace_settings,
    new_ledger,
    serving,
)


def issue(to: str, amount: int) -> dict[str, object]:
    return {"type": "Issue", "to": to, "amount": str(amount)}


def transfer(source: str, target: str, amount: int) -> dict[str, object]:
    return {"type": "Transfer", "from": source, "to": target, "amount": str(amount)}


def item(reference_id: str, *operations: dict[str, object]) -> dict[str, Any]:
    return {"referenceId": reference_id, "operations": list(operations)}


async def submit_batch(ledger: Ledger, items: list[Any]) -> Any:
    return await ledger.api.post(
        f"/projects/{ledger.project_id}/transactions/batch", {"transactions": items}
    )


@asynccontextmanager
async def gateway(
    settings: Settings, http_session: aiohttp.ClientSession, **update: int
) -> AsyncIterator[tuple[web.Application, Api]]:
    """A gateway of its own with some settings changed, beside the session's worker."""
    app = create_app(settings.model_copy(update=update))
    async with serving(app) as url:
        yield app, Api(http_session, url, await create_tenant_key(settings))


async def stored_reference_ids(project_id: str) -> list[str]:
    settings = namespace_settings()
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        rows = await connection.fetch(
            "SELECT reference_id FROM transactions WHERE project_id = $1 ORDER BY reference_id",
            project_id,
        )
    finally:
        await connection.close()
    return [row["reference_id"] for row in rows]


async def test_each_item_is_answered_on_its_own(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    earlier = await api.run(project, [issue(wallet, 1)], reference_id="earlier")
    reply = await submit_batch(
        ledger,
        [
            item("a", issue(wallet, 10)),
            item("b", {"type": "Issue", "to": wallet, "amount": "-1"}),
            item("a", issue(wallet, 10)),
            item("a", issue(wallet, 99)),
            item("earlier", issue(wallet, 1)),
            item("earlier", issue(wallet, 2)),
            {"referenceId": "c"},
            item("d", issue(wallet, 5)),
            "not an object",
        ],
    )
    assert reply.status == 202
    TransactionBatchResult.model_validate(reply.body)
    items = reply.body["items"]
    assert [entry["index"] for entry in items] == list(range(9))
    assert [entry["status"] for entry in items] == [202, 400, 409, 409, 409, 409, 400, 202, 400]
    assert (reply.body["accepted"], reply.body["rejected"]) == (2, 7)
    first = items[0]["body"]
    assert first == {"id": first["id"], "referenceId": "a", "status": "Pending"}
    assert items[1]["body"]["error"]["code"] == "ValidationError"
    assert [f["field"] for f in items[1]["body"]["error"]["details"]["fields"]] == [
        "operations[0].amount"
    ]
    repeat_same, repeat_different = items[2]["body"]["error"], items[3]["body"]["error"]
    assert repeat_same["code"] == repeat_different["code"] == "DuplicateReferenceId"
    assert repeat_same["details"]["requestMatches"] is True
    assert repeat_different["details"]["requestMatches"] is False
    assert repeat_same["details"]["transaction"]["id"] == first["id"]
    old_same, old_different = items[4]["body"]["error"], items[5]["body"]["error"]
    assert old_same["details"] == {"requestMatches": True, "transaction": earlier}
    assert old_different["details"] == {"requestMatches": False, "transaction": earlier}
    assert items[6]["body"]["error"]["code"] == "ValidationError"
    assert items[8]["body"]["error"]["code"] == "ValidationError"
    assert (await api.final(project, first["id"]))["status"] == "Completed"
    assert (await api.final(project, items[7]["body"]["id"]))["status"] == "Completed"
    assert await api.balance(project, wallet) == 1 + 10 + 5
    assert await stored_reference_ids(project) == ["a", "d", "earlier"]
    await assert_ledger_consistent(namespace_settings(), project)


async def test_a_retried_batch_is_all_duplicates_that_match(ledger: Ledger) -> None:
    wallet = await ledger.system_wallet()
    items = [item(f"r{number}", issue(wallet, number + 1)) for number in range(20)]
    first = await submit_batch(ledger, items)
    assert [entry["status"] for entry in first.body["items"]] == [202] * 20
    again = await submit_batch(ledger, items)
    assert again.status == 202
    assert [entry["status"] for entry in again.body["items"]] == [409] * 20
    for before, after in zip(first.body["items"], again.body["items"], strict=True):
        details = after["body"]["error"]["details"]
        assert details["requestMatches"] is True
        assert details["transaction"]["id"] == before["body"]["id"]
    for entry in first.body["items"]:
        await ledger.api.final(ledger.project_id, entry["body"]["id"])
    assert await ledger.api.balance(ledger.project_id, wallet) == sum(range(1, 21))


async def assert_applied_in_the_order_sent(ledger: Ledger) -> None:
    """Each transfer spends exactly what the previous one gave, so any reordering fails one."""
    api, project = ledger.api, ledger.project_id
    one, two = await ledger.customer_wallet(), await ledger.customer_wallet()
    await api.run(project, [issue(one, 1)])
    items = [
        item(f"step-{step}", transfer(one, two, 1) if step % 2 == 0 else transfer(two, one, 1))
        for step in range(200)
    ]
    reply = await submit_batch(ledger, items)
    assert reply.body["accepted"] == 200
    finals = [await api.final(project, entry["body"]["id"]) for entry in reply.body["items"]]
    assert [final["status"] for final in finals] == ["Completed"] * 200
    await assert_ledger_consistent(namespace_settings(), project)


async def test_accepted_items_apply_in_the_order_sent(ledger: Ledger) -> None:
    await assert_applied_in_the_order_sent(ledger)


async def test_a_batch_in_many_messages_applies_in_the_order_sent(
    migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    """With the smallest `message_bytes_max` (1 KiB, four or five one-transfer transactions),
    the 200 items travel in dozens of queue messages of at most that size, which a copy of the
    partition's traffic sees in the order sent, and the worker applies them in that order."""
    async with gateway(migrated, http_session, message_bytes_max=1024) as (_, api):
        ledger = await new_ledger(api)
        connection = await aio_pika.connect(migrated.amqp_url.get_secret_value())
        try:
            channel = await connection.channel()
            copies = await channel.declare_queue(exclusive=True)
            partition = partition_of(ledger.project_id, migrated.partition_count)
            await copies.bind(TRANSACTIONS_EXCHANGE, routing_key(partition))
            await assert_applied_in_the_order_sent(ledger)
            carried: list[list[str]] = []  # the steps' reference IDs, by message
            while (copy := await copies.get(no_ack=True, fail=False)) is not None:
                transactions = (
                    TransactionBatchMessage.model_validate_json(copy.body).transactions
                    if copy.type == TRANSACTION_BATCH_TYPE
                    else [TransactionMessage.model_validate_json(copy.body)]
                )
                steps = [
                    t.reference_id
                    for t in transactions
                    if t.project_id == ledger.project_id and t.reference_id.startswith("step-")
                ]
                if steps:
                    assert len(copy.body) <= 1024
                    carried.append(steps)
        finally:
            await connection.close()
    assert len(carried) > 20
    assert [step for steps in carried for step in steps] == [f"step-{n}" for n in range(200)]


async def test_a_full_batch_of_the_maximum_size_is_applied(ledger: Ledger) -> None:
    wallet = await ledger.system_wallet()
    items = [item(f"max-{number}", issue(wallet, 1)) for number in range(1000)]
    reply = await submit_batch(ledger, items)
    assert (reply.status, reply.body["accepted"]) == (202, 1000)
    await ledger.api.final(ledger.project_id, reply.body["items"][-1]["body"]["id"])
    for entry in reply.body["items"][:10]:
        assert (await ledger.api.final(ledger.project_id, entry["body"]["id"]))["status"] == (
            "Completed"
        )
    assert await ledger.api.balance(ledger.project_id, wallet) == 1000


async def test_bad_envelopes_are_400_and_leave_no_trace(ledger: Ledger) -> None:
    wallet = await ledger.system_wallet()
    one = item("r", issue(wallet, 1))
    for body, field in (
        ({"transactions": [one] * 1001}, "transactions"),
        ({"transactions": []}, "transactions"),
        ({"transactions": one}, "transactions"),
        ({}, "transactions"),
        ({"transactions": [one], "extra": 1}, "extra"),
        ([one], "body"),
    ):
        reply = await ledger.api.post(f"/projects/{ledger.project_id}/transactions/batch", body)
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), field
        fields = [entry["field"] for entry in reply.body["error"]["details"]["fields"]]
        assert field in fields, (field, fields)
    assert await stored_reference_ids(ledger.project_id) == []
    client = redis.Redis.from_url(namespace_settings().redis_url.get_secret_value())
    try:
        assert await client.exists(reference_key(ledger.project_id, "r")) == 0
    finally:
        await client.aclose()


async def test_another_tenants_project_answers_404(ledger: Ledger, other_api: Api) -> None:
    wallet = await ledger.system_wallet()
    reply = await other_api.post(
        f"/projects/{ledger.project_id}/transactions/batch",
        {"transactions": [item("r", issue(wallet, 1))]},
    )
    assert (reply.status, reply.body["error"]["code"]) == (404, "ProjectNotFound")
    assert await stored_reference_ids(ledger.project_id) == []


async def test_each_item_of_a_batch_gets_its_own_event(ledger: Ledger) -> None:
    """The batch travels as one queue message, but every item is announced on its own."""
    settings = namespace_settings()
    wallet = await ledger.system_wallet()
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind("cloudwallet.events", routing_key=f"transaction.*.{ledger.project_id}")
        reply = await submit_batch(
            ledger,
            [
                item("ok-1", issue(wallet, 3)),
                item("fails", transfer(wallet, "missing-wallet", 1)),
                item("ok-2", issue(wallet, 4)),
            ],
        )
        expected = {entry["body"]["id"] for entry in reply.body["items"]}
        seen: dict[str, str] = {}
        async with queue.iterator(timeout=20) as messages:
            async for message in messages:
                async with message.process():
                    state = orjson.loads(message.body)
                    seen[state["id"]] = message.routing_key or ""
                if set(seen) >= expected:
                    break
    finally:
        await connection.close()
    assert set(seen) == expected
    by_reference = {
        entry["body"]["referenceId"]: entry["body"]["id"] for entry in reply.body["items"]
    }
    project = ledger.project_id
    assert seen[by_reference["ok-1"]] == f"transaction.completed.{project}"
    assert seen[by_reference["fails"]] == f"transaction.failed.{project}"
    assert seen[by_reference["ok-2"]] == f"transaction.completed.{project}"


async def test_over_the_in_flight_limit_a_submission_is_429_with_retry_after(
    migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    """Admission control: with every slot of a submit route taken, the next request is refused
    at once instead of queueing in memory."""
    async with gateway(
        migrated, http_session, transaction_batches_in_flight_max=1, submissions_in_flight_max=1
    ) as (app, api):
        ledger = await new_ledger(api)
        wallet = await ledger.system_wallet()
        limits = app[SUBMISSION_LIMITS]
        async with limits.batch.slot(), limits.single.slot():
            batch = await submit_batch(ledger, [item("r", issue(wallet, 1))])
            single = await api.post(
                f"/projects/{ledger.project_id}/transactions", item("s", issue(wallet, 1))
            )
        after = await submit_batch(ledger, [item("r", issue(wallet, 1))])
    for reply in (batch, single):
        assert (reply.status, reply.body["error"]["code"]) == (429, "TooManyRequests")
        assert reply.headers["Retry-After"] == str(migrated.retry_after_s)
    assert (after.status, after.body["accepted"]) == (202, 1)
