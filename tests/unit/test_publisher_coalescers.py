"""The publisher keeps one coalescer per project, and a bounded number of them: once there are
`publish_coalescers_max`, the idle ones are dropped and a busy one is kept, so that what a
project submits while its publish waits for the confirm still travels after it, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.amqp.publisher import Publisher
from shared.settings import Settings


class HeldPublisher(Publisher):
    """The publisher with the broker replaced by a list; a project's publishes wait for its
    event when it has one."""

    def __init__(self) -> None:
        super().__init__(Settings(publish_coalescers_max=2), None, [None])  # type: ignore[arg-type, list-item]
        self.sent: list[tuple[str, list[str]]] = []
        self.confirms: dict[str, asyncio.Event] = {}

    async def publish_batch(self, project_id: str, bodies: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0)
        if project_id in self.confirms:
            await self.confirms[project_id].wait()
        self.sent.append((project_id, [body["id"] for body in bodies]))


async def test_idle_coalescers_are_dropped_past_the_limit_and_a_busy_one_keeps_its_order() -> None:
    publisher = HeldPublisher()
    await publisher.publish_coalesced("p1", {"id": "a"})
    await publisher.publish_coalesced("p2", {"id": "b"})
    publisher.confirms["p3"] = asyncio.Event()
    first = asyncio.create_task(publisher.publish_coalesced("p3", {"id": "c"}))
    await asyncio.sleep(0.01)
    await publisher.publish_coalesced("p4", {"id": "d"})  # the third: p1 and p2 are dropped
    assert sorted(publisher._coalescers) == ["p3", "p4"]
    second = asyncio.create_task(publisher.publish_coalesced("p3", {"id": "e"}))
    await asyncio.sleep(0.01)
    assert not first.done() and not second.done()  # "e" waits for "c"'s confirm
    publisher.confirms["p3"].set()
    async with asyncio.timeout(5):
        await asyncio.gather(first, second)
    assert publisher.sent == [
        ("p1", ["a"]),
        ("p2", ["b"]),
        ("p4", ["d"]),
        ("p3", ["c"]),
        ("p3", ["e"]),
    ]
    await publisher.publish_coalesced("p1", {"id": "f"})  # a dropped project starts again
    assert publisher.sent[-1] == ("p1", ["f"])
