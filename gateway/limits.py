"""Admission control for the submit routes: at most so many requests in flight, each route on
its own; one more is answered 429 at once (with Retry-After) instead of queueing without
bound in memory. A batch request holds a thousand transactions, so its limit is small."""

from __future__ import annotations

from shared.errors import TooManyRequests
from shared.settings import Settings


class InFlightLimit:
    """A count of requests in flight with a maximum; no waiting, no queue."""

    def __init__(self, name: str, requests_max: int, retry_after_s: int) -> None:
        self._name = name
        self._requests_max = requests_max
        self._retry_after_s = retry_after_s
        self.in_flight = 0

    def slot(self) -> InFlightLimit:
        """Hold one slot for the duration of an `async with`, or answer 429 at once. The
        limit is its own context manager: cheaper on the submit path than an
        asynccontextmanager's generator."""
        return self

    async def __aenter__(self) -> None:
        if self.in_flight >= self._requests_max:
            raise TooManyRequests(
                f"more than {self._requests_max} {self._name} are in progress; retry later",
                retry_after_s=self._retry_after_s,
            )
        self.in_flight += 1

    async def __aexit__(self, *exception: object) -> None:
        self.in_flight -= 1


class SubmissionLimits:
    """The in-flight limits of the single and the batch submit routes."""

    def __init__(self, settings: Settings) -> None:
        self.single = InFlightLimit(
            "submissions", settings.submissions_in_flight_max, settings.retry_after_s
        )
        self.batch = InFlightLimit(
            "batch submissions", settings.transaction_batches_in_flight_max, settings.retry_after_s
        )
