"""Admission control for the submit routes, each route on its own: a submission is refused at
once (429 with Retry-After) when the oldest one in progress has already waited longer than
`submission_wait_max_ms`, or when `..._in_flight_max` are in progress. Admitting by waiting
time refuses as soon as the service falls behind, while its answers are still quick, instead of
once thousands of requests have queued (docs/decisions/0003-admission-by-waiting-time.md). A
batch request holds a thousand transactions, so its in-flight limit is small."""

from __future__ import annotations

import time

from shared.errors import TooManyRequests
from shared.settings import Settings


class Slot:
    """One admitted request, for the duration of an `async with`."""

    __slots__ = ("_limit", "_ticket")

    def __init__(self, limit: InFlightLimit) -> None:
        self._limit = limit
        self._ticket = 0

    async def __aenter__(self) -> None:
        self._ticket = self._limit.admit()

    async def __aexit__(self, *exception: object) -> None:
        self._limit.leave(self._ticket)


class InFlightLimit:
    """The requests in progress, by admission ticket with their start time (oldest first: a
    dict keeps insertion order), with a maximum count and a maximum age of the oldest."""

    def __init__(self, name: str, requests_max: int, wait_max_s: float, retry_after_s: int) -> None:
        self._name = name
        self._requests_max = requests_max
        self._wait_max_s = wait_max_s
        self._retry_after_s = retry_after_s
        self._started_s: dict[int, float] = {}
        self._tickets = 0

    def slot(self) -> Slot:
        """Hold a place for the duration of an `async with`, or answer 429 at once."""
        return Slot(self)

    def admit(self) -> int:
        """A ticket for a new request, or TooManyRequests."""
        now_s = time.monotonic()
        if self._started_s:
            oldest_s = next(iter(self._started_s.values()))
            if now_s - oldest_s > self._wait_max_s:
                raise TooManyRequests(
                    f"{self._name} are waiting longer than {self._wait_max_s} s; retry later",
                    retry_after_s=self._retry_after_s,
                )
        if len(self._started_s) >= self._requests_max:
            raise TooManyRequests(
                f"more than {self._requests_max} {self._name} are in progress; retry later",
                retry_after_s=self._retry_after_s,
            )
        self._tickets += 1
        self._started_s[self._tickets] = now_s
        return self._tickets

    def leave(self, ticket: int) -> None:
        self._started_s.pop(ticket, None)


class SubmissionLimits:
    """The admission limits of the single and the batch submit routes."""

    def __init__(self, settings: Settings) -> None:
        wait_max_s = settings.submission_wait_max_ms / 1000
        self.single = InFlightLimit(
            "submissions", settings.submissions_in_flight_max, wait_max_s, settings.retry_after_s
        )
        self.batch = InFlightLimit(
            "batch submissions",
            settings.transaction_batches_in_flight_max,
            wait_max_s,
            settings.retry_after_s,
        )
