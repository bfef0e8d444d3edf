"""The coalescer: items submitted in one event-loop turn reach `send` together, in order and at
most `items_max` at a time; each caller gets its own result, or its own copy of the error that
its chunk met, while the other chunks are answered normally."""

from __future__ import annotations

import asyncio
import gc

from shared.coalescer import Coalescer
from shared.errors import CacheUnavailable


class Recorder:
    """A `send` that records its calls and fails the calls holding `fail_on`."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail_on = fail_on

    async def send(self, items: list[int]) -> list[int]:
        await asyncio.sleep(0)
        self.calls.append(items)
        if self.fail_on in items:
            raise CacheUnavailable("the cache is unavailable")
        return [item * 10 for item in items]


def copy_error(error: Exception) -> Exception:
    return CacheUnavailable(str(error))


async def test_items_of_one_turn_share_calls_in_order_and_each_gets_its_result() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.send, items_max=3, copy_error=copy_error)
    results = await asyncio.gather(*(coalescer.submit(item) for item in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert recorder.calls == [[0, 1, 2], [3, 4]]
    assert await coalescer.submit(7) == 70  # alone when idle
    assert recorder.calls[-1] == [7]


async def test_an_error_reaches_each_caller_of_its_chunk_as_its_own_copy() -> None:
    recorder = Recorder(fail_on=1)
    coalescer = Coalescer(recorder.send, items_max=2, copy_error=copy_error)
    results = await asyncio.gather(
        *(coalescer.submit(item) for item in range(4)), return_exceptions=True
    )
    first, second, *rest = results
    assert isinstance(first, CacheUnavailable) and isinstance(second, CacheUnavailable)
    assert first is not second
    assert rest == [20, 30]


async def test_posted_items_share_the_turn_and_flush_waits_until_they_are_sent() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.send, items_max=3, copy_error=copy_error)
    for item in range(4):
        coalescer.post(item)
    assert recorder.calls == []  # nothing is sent before the turn ends
    assert await coalescer.submit(4) == 40  # the same turn: the fourth and fifth share a call
    assert recorder.calls == [[0, 1, 2], [3, 4]]
    coalescer.post(5)
    await coalescer.flush()
    assert recorder.calls[-1] == [5]
    await coalescer.flush()  # nothing left: returns at once
    assert len(recorder.calls) == 3


async def test_a_posted_item_that_fails_is_dropped_without_an_unretrieved_error() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        recorder = Recorder(fail_on=1)
        coalescer = Coalescer(recorder.send, items_max=2, copy_error=copy_error)
        for item in range(4):
            coalescer.post(item)
        await coalescer.flush()
        gc.collect()  # an unretrieved error is reported when its future is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert recorder.calls == [[0, 1], [2, 3]]
    assert reported == []
