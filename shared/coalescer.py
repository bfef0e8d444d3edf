"""Coalescing: the requests that want the same kind of command share one command. A request
waits for the next turn of the event loop, and also, when `sends_in_flight_max` commands are
already on their way, until one of them is answered: under load one round trip then serves
every request that arrived during the one before (each client command costs far more CPU than
the work it asks of the server); when idle, a request travels alone, one loop turn later."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeAlias, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
# An item, its caller's future, and its deadline on the event loop's clock (None: no deadline).
_Waiting: TypeAlias = tuple[Item, "asyncio.Future[Result]", float | None]
_UNBOUNDED = contextlib.nullcontext()


class Coalescer(Generic[Item, Result]):
    """Gathers the items submitted while it waits (a loop turn, or a free place among
    `sends_in_flight_max` sends) and passes them, in order and at most `items_max` at a time, to
    `send`, which answers one result per item. Each caller gets its own result, or the error
    `send` raised, as `copy_error` copies it for that caller.

    An item may carry a deadline (on the event loop's clock): one whose deadline passed while it
    waited is answered `expired()` without being sent, and a send is bounded by the earliest
    deadline among its items, so that a caller waits no longer than its deadline however many
    wait before it. One timer per send, not one per caller: a timer costs more than the rest
    of a caller's share of the work."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[list[Result]]],
        *,
        items_max: int,
        sends_in_flight_max: int,
        copy_error: Callable[[Exception], Exception],
        expired: Callable[[], Exception] = TimeoutError,
    ) -> None:
        self._send = send
        self._items_max = items_max
        self._sends_in_flight_max = sends_in_flight_max
        self._copy_error = copy_error
        self._expired = expired
        self._waiting: list[_Waiting[Item, Result]] = []
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def idle(self) -> bool:
        """Whether nothing waits and nothing is on its way: dropping the coalescer then loses
        no item and lets no later send overtake an earlier one."""
        return not self._waiting and not self._sending

    async def submit(self, item: Item, deadline_s: float | None = None) -> Result:
        """Send `item` with the others waiting and return its result; past `deadline_s`, the
        `expired()` error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future, deadline_s))
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

    async def _answer(self, waiting: list[_Waiting[Item, Result]]) -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, len(waiting), self._items_max):
            chunk = self._live(waiting[start : start + self._items_max], loop.time())
            if not chunk:
                continue
            deadlines = [deadline_s for _, _, deadline_s in chunk if deadline_s is not None]
            # Without a deadline, no timeout at all: entering one costs more than a caller's
            # share of a send.
            bound = asyncio.timeout_at(min(deadlines)) if deadlines else _UNBOUNDED
            try:
                async with bound:
                    results = await self._send([item for item, _, _ in chunk])
            except asyncio.CancelledError:
                for _, future, _ in waiting[start:]:
                    future.cancel()
                raise
            except TimeoutError:
                self._fail(chunk, self._expired())
                continue
            except Exception as error:
                self._fail(chunk, error)
                continue
            for (_, future, _), result in zip(chunk, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _live(
        self, chunk: list[_Waiting[Item, Result]], now_s: float
    ) -> list[_Waiting[Item, Result]]:
        """The items still waited for: a caller that gave up, or whose deadline passed, is not
        sent (under a backlog, work nobody waits for would only delay the callers still
        waiting), and the latter is answered `expired()`."""
        live = []
        for entry in chunk:
            _, future, deadline_s = entry
            if future.done():
                continue
            if deadline_s is not None and deadline_s <= now_s:
                future.set_exception(self._expired())
                continue
            live.append(entry)
        return live

    def _fail(self, chunk: list[_Waiting[Item, Result]], error: Exception) -> None:
        for _, future, _ in chunk:
            if not future.done():
                future.set_exception(self._copy_error(error))
