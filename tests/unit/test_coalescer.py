"""The coalescer: items submitted in one event-loop turn reach `send` together, in order and at
most `items_max` at a time; each caller gets its own result, or its own copy of the error that
its chunk met, while the other chunks are answered normally."""

from __future__ import annotations

import asyncio

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
