"""A writer's batch is bounded in transactions, not deliveries: `Intake.collect` takes deliveries
(single transactions and batch messages) from the inbox until `batch_size_max` transactions
are in hand, never splits a batch message, and leaves the rest in the inbox. Single-transaction
messages are decoded as they arrive (`delivery.receive`), batch messages when collected."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec
from pamqp.header import ContentHeader

from shared.contract.messages import TRANSACTION_BATCH_TYPE
from shared.ids import new_id
from shared.settings import Settings
from worker import delivery
from worker.intake import Intake

PROJECT = new_id()


@dataclass
class Channel:
    is_closed: bool = False


@dataclass
class Delivery:
    """What `Intake.collect` reads of an incoming message."""

    body: bytes
    type: str | None = None
    channel: Channel = field(default_factory=Channel)

    def bind_headers(self, messages: list[Any]) -> None:
        """No request ids: the messages of these tests carry no headers."""


def transaction(reference_id: str) -> dict[str, Any]:
    return {
        "v": 1,
        "id": new_id(),
        "projectId": PROJECT,
        "referenceId": reference_id,
        "operations": [{"type": "Issue", "to": new_id(), "amount": "1"}],
        "submittedAt": datetime.now(UTC).isoformat(),
    }


def batch_message(size: int) -> Delivery:
    body = {"v": 1, "transactions": [transaction(f"r{n}") for n in range(size)]}
    return Delivery(orjson.dumps(body), TRANSACTION_BATCH_TYPE)


def intake(batch_size_max: int, inbox: asyncio.Queue[Any] | None = None) -> Intake:
    settings = Settings(batch_size_max=batch_size_max)
    return Intake(0, settings, asyncio.Queue() if inbox is None else inbox)


async def test_batch_messages_fill_a_batch_up_to_the_limit_and_are_never_split() -> None:
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    deliveries = [batch_message(3) for _ in range(4)]
    for one in deliveries:
        inbox.put_nowait((one, None))
    parsed = await intake(5, inbox).collect()
    assert len(parsed) == 6  # two whole batch messages: the second takes it past 5
    assert [received for received, _ in parsed] == [deliveries[0]] * 3 + [deliveries[1]] * 3
    assert inbox.qsize() == 2


async def test_single_messages_stop_at_the_limit_and_closed_channels_are_skipped() -> None:
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    closed = Delivery(orjson.dumps(transaction("gone")), channel=Channel(is_closed=True))
    inbox.put_nowait((closed, None))
    singles = [Delivery(orjson.dumps(transaction(f"s{n}"))) for n in range(5)]
    for one in singles:
        inbox.put_nowait((one, None))
    parsed = await intake(3, inbox).collect()
    assert [received for received, _ in parsed] == singles[:3]
    assert inbox.qsize() == 2


def delivered(body: bytes, message_type: str | None = None) -> DeliveredMessage:
    return DeliveredMessage(
        delivery=spec.Basic.Deliver(delivery_tag=1),
        header=ContentHeader(properties=spec.Basic.Properties(message_type=message_type)),
        body=body,
        channel=None,  # type: ignore[arg-type]
    )


def test_single_messages_are_decoded_on_arrival_and_batch_messages_are_not() -> None:
    context = intake(5).context
    single = transaction("arrived")
    received, decoded = delivery.receive(delivered(orjson.dumps(single)), context)
    assert received.body == orjson.dumps(single)
    assert isinstance(decoded, list) and [m.reference_id for m in decoded] == ["arrived"]
    batch = batch_message(2)
    _, decoded = delivery.receive(delivered(batch.body, TRANSACTION_BATCH_TYPE), context)
    assert decoded is None
    _, poison = delivery.receive(delivered(b'{"v": 1}'), context)
    assert isinstance(poison, str) and poison.startswith("invalid message")


async def test_collect_takes_what_was_decoded_on_arrival() -> None:
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    one = Delivery(b"not read again")
    decoded = delivery.decode(Delivery(orjson.dumps(transaction("early"))), intake(5).context)
    inbox.put_nowait((one, decoded))
    parsed = await intake(5, inbox).collect()
    assert [(received, message.reference_id) for received, message in parsed] == [(one, "early")]


async def test_collect_takes_what_is_ready_without_letting_other_tasks_run_first() -> None:
    # The previous batch's finish is a task ready to run; a batch already in the inbox must
    # reach its first database round trip before it, not after.
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    inbox.put_nowait((Delivery(orjson.dumps(transaction("ready"))), None))
    ran: list[str] = []

    async def finish() -> None:
        ran.append("finish")

    other = asyncio.create_task(finish())
    parsed = await intake(5, inbox).collect()
    assert [message.reference_id for _, message in parsed] == ["ready"]
    assert ran == []
    await other
    assert ran == ["finish"]


async def test_a_delivery_that_fails_to_decode_on_arrival_still_reaches_the_inbox() -> None:
    # A programmer error (here a limit of the wrong type) must not lose the delivery on
    # arrival, where a later multiple-ack would settle it unapplied: it fails again when
    # collected, and stops the writer there.
    broken = {"reference_id_length_max": "not a number"}
    body = orjson.dumps(transaction("broken"))
    received, decoded = delivery.receive(delivered(body), broken)
    assert received.body == body and decoded is None
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    inbox.put_nowait((Delivery(body), decoded))
    failing = intake(5, inbox)
    failing.context = broken
    with pytest.raises(TypeError):
        await failing.collect()
