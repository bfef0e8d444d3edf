"""The coalescer: items submitted in one event-loop turn reach `send` together, in order and at
most `items_max` at a time; while `sends_in_flight_max` sends are unanswered, what is submitted
waits and goes in one send when the first of them ends; each caller gets its own result, or its
own copy of the error that its chunk met, while the other chunks are answered normally."""

from __future__ import annotations

import asyncio

from shared.coalescer import Coalescer
from shared.errors import CacheUnavailable


class Recorder:
    """A `send` that records its calls and fails the calls holding `fail_on`."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail_on = fail_on
        self.in_flight = 0
        self.in_flight_max = 0
        self.answer = asyncio.Event()
        self.answer.set()

    async def send(self, items: list[int]) -> list[int]:
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)
        self.calls.append(items)
        await asyncio.sleep(0)
        await self.answer.wait()
        self.in_flight -= 1
        if self.fail_on in items:
            raise CacheUnavailable("the cache is unavailable")
        return [item * 10 for item in items]


def copy_error(error: Exception) -> Exception:
    return CacheUnavailable(str(error))


async def test_items_of_one_turn_share_calls_in_order_and_each_gets_its_result() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.send, items_max=3, sends_in_flight_max=1, copy_error=copy_error)
    results = await asyncio.gather(*(coalescer.submit(item) for item in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert recorder.calls == [[0, 1, 2], [3, 4]]
    assert await coalescer.submit(7) == 70  # alone when idle
    assert recorder.calls[-1] == [7]


async def test_an_error_reaches_each_caller_of_its_chunk_as_its_own_copy() -> None:
    recorder = Recorder(fail_on=1)
    coalescer = Coalescer(recorder.send, items_max=2, sends_in_flight_max=1, copy_error=copy_error)
    results = await asyncio.gather(
        *(coalescer.submit(item) for item in range(4)), return_exceptions=True
    )
    first, second, *rest = results
    assert isinstance(first, CacheUnavailable) and isinstance(second, CacheUnavailable)
    assert first is not second
    assert rest == [20, 30]


async def test_what_arrives_while_the_sends_are_unanswered_waits_and_travels_together() -> None:
    recorder = Recorder()
    recorder.answer.clear()
    coalescer = Coalescer(recorder.send, items_max=10, sends_in_flight_max=2, copy_error=copy_error)
    first = asyncio.create_task(coalescer.submit(1))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(coalescer.submit(2))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(coalescer.submit(item)) for item in (3, 4)]
    await asyncio.sleep(0.01)
    later.append(asyncio.create_task(coalescer.submit(5)))
    await asyncio.sleep(0.01)
    assert recorder.calls == [[1], [2]]  # both places taken: 3, 4 and 5 wait
    recorder.answer.set()
    assert await asyncio.gather(first, second, *later) == [10, 20, 30, 40, 50]
    assert recorder.calls == [[1], [2], [3, 4, 5]]
    assert recorder.in_flight_max == 2


def late() -> CacheUnavailable:
    return CacheUnavailable("late")


async def test_a_stalled_send_is_bounded_by_its_earliest_deadline_and_the_waiting_expire() -> None:
    """A send that never answers ends at the earliest deadline of its items; what waited
    behind it with deadlines already past is answered `expired()` without being sent, so no
    caller waits longer than its deadline, however many sends it queued behind."""
    recorder = Recorder()
    recorder.answer.clear()  # the first send stalls
    coalescer = Coalescer(
        recorder.send, items_max=2, sends_in_flight_max=1, copy_error=copy_error, expired=late
    )
    loop = asyncio.get_running_loop()
    deadline_s = loop.time() + 0.2
    started = loop.time()
    stalled = [asyncio.create_task(coalescer.submit(item, deadline_s)) for item in range(4)]
    await asyncio.sleep(0.05)
    behind = asyncio.create_task(coalescer.submit(9, deadline_s))
    results = await asyncio.gather(*stalled, behind, return_exceptions=True)
    elapsed_s = loop.time() - started
    assert all(isinstance(result, CacheUnavailable) for result in results), results
    assert {str(result) for result in results} == {"late"}
    assert elapsed_s < 0.35, elapsed_s
    assert recorder.calls == [[0, 1]]  # neither the second chunk nor what waited was sent
    recorder.answer.set()
    assert await coalescer.submit(5, loop.time() + 1) == 50


async def test_a_caller_that_gave_up_is_not_sent() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.send, items_max=10, sends_in_flight_max=1, copy_error=copy_error)
    gone = asyncio.create_task(coalescer.submit(1))
    kept = asyncio.create_task(coalescer.submit(2))
    gone.cancel()
    assert await kept == 20
    assert recorder.calls == [[2]]
