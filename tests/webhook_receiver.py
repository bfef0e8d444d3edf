"""A webhook receiver for the tests: an HTTP server on 127.0.0.1 that records every delivery
and answers as told (a status per attempt of an event, or hanging), and helpers to wait for
what it received."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

HANG = -1  # an answer: hold the request without answering (until HANG_S)
HANG_S = 30
SHUTDOWN_TIMEOUT_S = 0.2


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at_s: float

    @property
    def event(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """`answer(event_id, attempt)` gives the status of an event's attempt (1 for its first),
    or HANG."""

    answer: Callable[[str, int], int] = lambda event_id, attempt: 200
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        arrived = Received(headers, body, time.monotonic())
        attempt = 1 + sum(1 for one in self.received if one.event_id == arrived.event_id)
        self.received.append(arrived)
        async with self._arrived:
            self._arrived.notify_all()
        status = self.answer(arrived.event_id, attempt)
        if status == HANG:
            await asyncio.sleep(HANG_S)
            status = 200
        return web.Response(status=status, text="ok")

    def of(self, event_id: str) -> list[Received]:
        return [one for one in self.received if one.event_id == event_id]

    async def wait_for(
        self, condition: Callable[[list[Received]], bool], timeout_s: float = 15
    ) -> list[Received]:
        """Wait until `condition(received)` holds; AssertionError after `timeout_s`."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: condition(self.received))
        return list(self.received)


@contextlib.asynccontextmanager
async def receiving(
    answer: Callable[[str, int], int] = lambda event_id, attempt: 200, path: str = "/hook"
) -> AsyncIterator[Receiver]:
    """A receiver serving on a free port of 127.0.0.1 until the block ends."""
    receiver = Receiver(answer)
    app = web.Application()
    app.router.add_post(path, receiver._handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        receiver.url = f"http://{host}:{port}{path}"
        yield receiver
    finally:
        await runner.cleanup()
