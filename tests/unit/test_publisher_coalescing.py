"""Coalesced publishing: single submissions of one project made in the same event-loop turn, or
while the project's previous publish waits for its confirm, share one batch message, in
submission order, and each caller learns the outcome of the message that carried it (a broker
error reaches every one of them, and so does any other error, so that no caller is left
waiting). Another project's submissions never wait for that confirm."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from shared.amqp.publisher import Publisher
from shared.contract.messages import TRANSACTION_BATCH_TYPE, QueueMessage
from shared.errors import BrokerUnavailable
from shared.settings import Settings


class RecordingPublisher(Publisher):
    """The publisher with the broker replaced by a list of what would have been sent."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__(Settings(transactions_per_batch_max=3), None, [None])  # type: ignore[arg-type, list-item]
        self.sent: list[tuple[str, str | None, Any]] = []
        self.fail = fail
        self.confirms: dict[str, asyncio.Event] = {}  # a project's publishes wait for its event

    async def publish_messages(self, project_id: str, messages: list[QueueMessage]) -> None:
        await asyncio.sleep(0)
        if project_id in self.confirms:
            await self.confirms[project_id].wait()
        if self.fail is not None:
            raise self.fail
        for message in messages:
            kind = TRANSACTION_BATCH_TYPE if message.batch else None
            self.sent.append((project_id, kind, orjson.loads(message.body)))


def body(transaction_id: str) -> dict[str, Any]:
    return {"v": 1, "id": transaction_id}


async def test_submissions_of_one_turn_share_messages_per_project_in_order() -> None:
    publisher = RecordingPublisher()
    await asyncio.gather(
        publisher.publish_coalesced("p1", body("a")),
        publisher.publish_coalesced("p2", body("x")),
        publisher.publish_coalesced("p1", body("b")),
        publisher.publish_coalesced("p1", body("c")),
        publisher.publish_coalesced("p1", body("d")),
    )
    by_project = sorted(publisher.sent, key=lambda sent: sent[0])
    assert [(project, kind) for project, kind, _ in by_project] == [
        ("p1", TRANSACTION_BATCH_TYPE),
        ("p1", None),
        ("p2", None),
    ]
    first, rest, alone = by_project
    assert [item["id"] for item in first[2]["transactions"]] == ["a", "b", "c"]  # at most 3
    assert rest[2]["id"] == "d"
    assert alone[2]["id"] == "x"


async def test_a_later_turn_gets_its_own_message() -> None:
    publisher = RecordingPublisher()
    await publisher.publish_coalesced("p1", body("a"))
    await publisher.publish_coalesced("p1", body("b"))
    assert [sent[2]["id"] for sent in publisher.sent] == ["a", "b"]


async def test_a_broker_error_reaches_every_caller_of_the_message() -> None:
    publisher = RecordingPublisher(
        fail=BrokerUnavailable("the broker is unavailable", code="QueueFull")
    )
    results = await asyncio.gather(
        *(publisher.publish_coalesced("p1", body(name)) for name in "abc"),
        return_exceptions=True,
    )
    assert all(isinstance(result, BrokerUnavailable) for result in results)
    assert {result.code for result in results if isinstance(result, BrokerUnavailable)} == {
        "QueueFull"
    }
    assert len({id(result) for result in results}) == 3
    with pytest.raises(BrokerUnavailable):
        await publisher.publish_coalesced("p1", body("d"))


async def test_any_other_error_reaches_every_caller_instead_of_leaving_them_waiting() -> None:
    publisher = RecordingPublisher(fail=RuntimeError("a bug"))
    async with asyncio.timeout(5):
        results = await asyncio.gather(
            *(publisher.publish_coalesced("p1", body(name)) for name in "abc"),
            return_exceptions=True,
        )
    assert [type(result) for result in results] == [RuntimeError] * 3


async def test_submissions_made_while_the_project_waits_for_a_confirm_travel_together() -> None:
    publisher = RecordingPublisher()
    publisher.confirms["p1"] = asyncio.Event()
    first = asyncio.create_task(publisher.publish_coalesced("p1", body("a")))
    await asyncio.sleep(0.01)
    waiting = [asyncio.create_task(publisher.publish_coalesced("p1", body(name))) for name in "bc"]
    await asyncio.sleep(0.01)
    waiting.append(asyncio.create_task(publisher.publish_coalesced("p1", body("d"))))
    async with asyncio.timeout(5):
        await publisher.publish_coalesced("p2", body("x"))  # p1's confirm holds only p1
    assert [sent[0] for sent in publisher.sent] == ["p2"]
    assert not first.done() and not any(task.done() for task in waiting)
    publisher.confirms["p1"].set()
    async with asyncio.timeout(5):
        await asyncio.gather(first, *waiting)
    p1 = [sent for sent in publisher.sent if sent[0] == "p1"]
    assert [kind for _, kind, _ in p1] == [None, TRANSACTION_BATCH_TYPE]
    assert p1[0][2]["id"] == "a"
    assert [item["id"] for item in p1[1][2]["transactions"]] == ["b", "c", "d"]
