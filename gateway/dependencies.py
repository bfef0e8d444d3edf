"""What the gateway has reached of its services. A gateway starts while PostgreSQL or the broker
is down (shared/services.py): it serves `/health` and `/ready` at once, keeps trying in the
background, and refuses submissions with 503 until it has both checked the deployment (a
publish routed with another partition count would reach the wrong writer) and connected to
the broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from shared.amqp.publisher import Publisher
from shared.errors import BrokerUnavailable, DatabaseUnavailable
from shared.services import Reached, reported


class Dependencies(Reached):
    """The publisher once connected, whether the deployment is checked, and the tasks still
    trying to reach a service."""

    def __init__(self, *, retry_after_s: int = 1, ready_timeout_ms: int = 1000) -> None:
        super().__init__("gateway", ready_timeout_ms)
        self.publisher: Publisher | None = None
        self._retry_after_s = retry_after_s
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def reached(cls, publisher: Publisher) -> Dependencies:
        """Everything reached at once (a gateway whose services answered at start)."""
        dependencies = cls()
        dependencies.publisher = publisher
        dependencies.deployment_checked = True
        return dependencies

    def broker_connected(self) -> bool | None:
        return None if self.publisher is None else self.publisher.connected()

    def submission_publisher(self) -> Publisher:
        """The publisher submissions go through; 503 while the broker or the deployment check
        has not been reached since the start."""
        publisher = self.publisher
        if publisher is not None and self.deployment_checked:
            return publisher
        if not self.deployment_checked:
            raise DatabaseUnavailable(
                self.deployment_problem
                or "PostgreSQL has not answered since the gateway started: the deployment is"
                " not checked yet",
                retry_after_s=self._retry_after_s,
            )
        raise BrokerUnavailable(
            "the broker has not answered since the gateway started",
            retry_after_s=self._retry_after_s,
        )

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (reaching a service) in the background until it ends or `close`."""
        self._tasks.append(asyncio.create_task(reported(work)))

    async def close(self) -> None:
        """Stop the background work."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
