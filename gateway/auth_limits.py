"""Failed authentication, limited per client address: a token bucket per address holding up to
`auth_failures_per_address_max` failures, regained evenly over `auth_failure_window_s`. An
address with no failure left is answered 429 TooManyRequests, with Retry-After the seconds
until it regains one, and the gateway asks PostgreSQL nothing for it (gateway/auth.py).

Only failures count: a request with a valid key never uses up its address's allowance.

The client address is the TCP peer (`request.remote`). Behind a reverse proxy or a NAT every
client shares one address, so one client's failures limit all of them; and each gateway
process counts on its own. A limit shared by the gateways of a deployment (in Redis), or keyed
by a trusted forwarded address, belongs with the access controls (rate limits per key).
Memory is bounded: at most `auth_failure_addresses_max` addresses are remembered, and the one
whose last failure is oldest is forgotten first."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from shared.errors import TooManyRequests
from shared.settings import Settings


class FailureLimiter:
    """How many failed authentications each client address has left."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self._failures_max = float(settings.auth_failures_per_address_max)
        self._regained_per_s = self._failures_max / settings.auth_failure_window_s
        self._addresses_max = settings.auth_failure_addresses_max
        self._clock = clock
        # address -> (failures left, when that was counted), oldest failure first
        self._buckets: dict[str, tuple[float, float]] = {}

    def refusal(self, address: str) -> TooManyRequests | None:
        """The 429 to answer `address` with while it has no failure left; else None."""
        if not self._buckets:
            return None
        bucket = self._buckets.get(address)
        if bucket is None:
            return None
        left = self._left(bucket)
        if left >= self._failures_max:
            del self._buckets[address]  # all regained: nothing to remember
        if left >= 1:
            return None
        return TooManyRequests(
            "too many failed authentications from this address",
            retry_after_s=math.ceil((1 - left) / self._regained_per_s),
        )

    def record(self, address: str) -> None:
        """One more failed authentication from `address`."""
        bucket = self._buckets.pop(address, None)
        left = self._failures_max if bucket is None else self._left(bucket)
        if len(self._buckets) >= self._addresses_max:
            del self._buckets[next(iter(self._buckets))]
        self._buckets[address] = (max(left - 1, 0.0), self._clock())

    def _left(self, bucket: tuple[float, float]) -> float:
        left, counted_at = bucket
        regained = (self._clock() - counted_at) * self._regained_per_s
        return min(self._failures_max, left + regained)
