"""Coalescing: the requests that want the same kind of command share one command. A request
waits for the next turn of the event loop, and also, when `sends_in_flight_max` commands are
already on their way, until one of them is answered: under load one round trip then serves
every request that arrived during the one before (each client command costs far more CPU than
the work it asks of the server); when idle, a request travels alone, one loop turn later."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """Gathers the items submitted while it waits (a loop turn, or a free place among
    `sends_in_flight_max` sends) and passes them, in order and at most `items_max` at a time, to
    `send`, which answers one result per item. Each caller gets its own result, or the error
    `send` raised, as `copy_error` copies it for that caller."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[list[Result]]],
        *,
        items_max: int,
        sends_in_flight_max: int,
        copy_error: Callable[[Exception], Exception],
    ) -> None:
        self._send = send
        self._items_max = items_max
        self._sends_in_flight_max = sends_in_flight_max
        self._copy_error = copy_error
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        """Send `item` with the others waiting and return its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._send_waiting)
        return await future

    def _send_waiting(self) -> None:
        """Send what waits, unless every place is taken: the first send to end sends it."""
        if not self._waiting or len(self._sending) >= self._sends_in_flight_max:
            return
        waiting, self._waiting = self._waiting, []
        task = asyncio.create_task(self._answer(waiting))
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._send_waiting()

    async def _answer(self, waiting: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        # A caller that gave up (its deadline passed while it waited) is not sent: under a
        # backlog, work nobody waits for would only delay the callers still waiting.
        waiting = [(item, future) for item, future in waiting if not future.done()]
        for start in range(0, len(waiting), self._items_max):
            chunk = waiting[start : start + self._items_max]
            if all(future.done() for _, future in chunk):
                continue
            try:
                results = await self._send([item for item, _ in chunk])
            except asyncio.CancelledError:
                for _, future in waiting[start:]:
                    future.cancel()
                raise
            except Exception as error:
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(self._copy_error(error))
                continue
            for (_, future), result in zip(chunk, results, strict=True):
                if not future.done():
                    future.set_result(result)
