"""Poison published straight to a partition queue, in one batch with valid messages: bodies
that cannot be parsed or fail the schema, and messages the database refuses (an unknown
project, an id already taken) are dead-lettered at once (reason `rejected`, not the delivery
limit), while every valid message around them is applied and the partition keeps flowing; a
batch message the database refuses part of has its accepted transactions applied and is
dead-lettered whole, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiohttp
import orjson
import pytest

from shared.amqp.broker import DEAD_LETTER_QUEUE
from shared.contract.messages import TRANSACTION_BATCH_TYPE
from shared.contract.partition import partition_of, queue_name
from shared.ids import new_id
from shared.settings import Settings
from tests.faults.processes import Processes
from tests.faults.workload import wait_final
from tests.support import Api, assert_ledger_consistent, create_tenant_key, new_ledger

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


def issue_message(message_id: str, project_id: str, reference_id: str, wallet: str) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "id": message_id,
            "projectId": project_id,
            "referenceId": reference_id,
            "operations": [{"type": "Issue", "to": wallet, "amount": "10"}],
            "submittedAt": datetime.now(UTC).isoformat(),
        }
    )


async def publish_to_queue(
    settings: Settings, queue: str, bodies: list[bytes], message_types: dict[int, str] | None = None
) -> None:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        for index, body in enumerate(bodies):
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=new_id(),
                    type=(message_types or {}).get(index),
                ),
                routing_key=queue,
            )
    finally:
        await connection.close()


async def drain_dead_letters(settings: Settings) -> list[tuple[bytes, dict[str, Any]]]:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    drained = []
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD_LETTER_QUEUE, passive=True)
        while (message := await queue.get(fail=False)) is not None:
            drained.append((message.body, dict(message.headers)))
            await message.ack()
    finally:
        await connection.close()
    return drained


async def test_poison_is_dead_lettered_at_once_and_the_partition_flows(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    _, url = await processes.gateway(session)
    api = Api(session, url, await create_tenant_key(fault_settings))
    ledger = await new_ledger(api)
    project = ledger.project_id
    wallet = await ledger.system_wallet()
    queue = queue_name(partition_of(project, fault_settings.partition_count))
    valid = [(new_id(), f"valid-{number}") for number in range(5)]
    first_id = valid[0][0]
    poison = [
        b"\xff not json at all",
        orjson.dumps({"v": 1, "id": new_id(), "projectId": project}),
        issue_message(new_id(), f"no-such-project-{new_id()}", "ghost", wallet),
        issue_message(first_id, project, "reuses-an-id-already-taken", wallet),
    ]
    bodies = [
        issue_message(message_id, project, reference, wallet) for message_id, reference in valid
    ]
    interleaved = [
        body for pair in zip(bodies, [*poison, None], strict=True) for body in pair if body
    ]
    # No worker yet: the first batch holds all of them, valid and poison together.
    await publish_to_queue(fault_settings, queue, interleaved)
    worker = await processes.worker("worker-1")

    for message_id, _ in valid:
        assert await wait_final(api, project, message_id, timeout_s=20) == "Completed"
    after = await api.run(project, [{"type": "Issue", "to": wallet, "amount": "10"}])
    assert after["status"] == "Completed"
    assert await api.balance(project, wallet) == 60

    dead = await drain_dead_letters(fault_settings)
    assert sorted(body for body, _ in dead) == sorted(poison)
    for _, headers in dead:
        death = headers["x-death"][0]
        assert (death["reason"], death["queue"], death["count"]) == ("rejected", queue, 1)
    assert worker.popen.poll() is None
    assert worker.log().count("dead-lettering message") == len(poison)
    await assert_ledger_consistent(
        fault_settings, project, [*valid, (str(after["id"]), str(after["referenceId"]))]
    )


async def test_a_batch_message_partly_refused_applies_the_rest_and_is_dead_lettered_whole(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    _, url = await processes.gateway(session)
    api = Api(session, url, await create_tenant_key(fault_settings))
    ledger = await new_ledger(api)
    project = ledger.project_id
    wallet = await ledger.system_wallet()
    queue = queue_name(partition_of(project, fault_settings.partition_count))
    single_id, before_id, after_id = new_id(), new_id(), new_id()
    batch = orjson.dumps(
        {
            "v": 1,
            "transactions": [
                orjson.loads(issue_message(before_id, project, "batch-before", wallet)),
                # The id of the single message queued before it: the primary key refuses it.
                orjson.loads(issue_message(single_id, project, "batch-reuses-an-id", wallet)),
                orjson.loads(issue_message(after_id, project, "batch-after", wallet)),
            ],
        }
    )
    single = issue_message(single_id, project, "single", wallet)
    # No worker yet: the first batch holds both deliveries.
    await publish_to_queue(fault_settings, queue, [single, batch], {1: TRANSACTION_BATCH_TYPE})
    worker = await processes.worker("worker-1")

    for message_id in (single_id, before_id, after_id):
        assert await wait_final(api, project, message_id, timeout_s=20) == "Completed"
    after = await api.run(project, [{"type": "Issue", "to": wallet, "amount": "10"}])
    assert after["status"] == "Completed"
    assert await api.balance(project, wallet) == 40

    dead = await drain_dead_letters(fault_settings)
    assert [body for body, _ in dead] == [batch]
    death = dead[0][1]["x-death"][0]
    assert (death["reason"], death["queue"], death["count"]) == ("rejected", queue, 1)
    assert worker.popen.poll() is None
    assert worker.log().count("dead-lettering message") == 1
    await assert_ledger_consistent(
        fault_settings,
        project,
        [
            (single_id, "single"),
            (before_id, "batch-before"),
            (after_id, "batch-after"),
            (str(after["id"]), str(after["referenceId"])),
        ],
    )
