"""When the client tries a request again, and after how long.

A 429 is always tried again: the service refused it before doing anything. A 503, or an answer
that did not come in time, is tried again only for a request that is safe to repeat: a read, a
PUT or DELETE, an upsert, and a submission (a transaction, a batch, a reversal), which carries
its reference ID, so that a repeat can never apply twice. A request that could not even be
sent (no connection) is always tried again. Retry-After is honoured: the wait is at least what
the answer asked for."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

# Errors raised before the request reached the service: repeating any request is safe.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Errors after which the service may or may not have acted on the request.
NO_ANSWER = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Up to `attempts_max` attempts; waits of `backoff_first_s` doubling up to
    `backoff_max_s` (each drawn between half and all of it), and at least an answer's
    Retry-After, unless that is over `retry_after_max_s`, when the error is raised at once."""

    attempts_max: int = 5
    backoff_first_s: float = 0.2
    backoff_max_s: float = 5.0
    retry_after_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts_max < 1:
            raise ValueError("attempts_max must be at least 1")
        if self.backoff_first_s < 0 or self.backoff_max_s < self.backoff_first_s:
            raise ValueError("backoffs must be 0 <= backoff_first_s <= backoff_max_s")

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float | None:
        """How long to wait after failed attempt number `attempt` (from 1) before the next, or
        None when there is no next one."""
        if attempt >= self.attempts_max:
            return None
        if retry_after_s is not None and retry_after_s > self.retry_after_max_s:
            return None
        backoff_s: float = min(self.backoff_max_s, self.backoff_first_s * 2 ** (attempt - 1))
        backoff_s *= random.uniform(0.5, 1.0)  # jitter, not a secret
        return max(backoff_s, retry_after_s or 0.0)


NO_RETRIES = RetryPolicy(attempts_max=1)


def retry_status(status: int, idempotent: bool) -> bool:
    """Whether an answer of `status` is worth trying again."""
    return status == 429 or (status == 503 and idempotent)


def retry_error(error: httpx.HTTPError, idempotent: bool) -> bool:
    """Whether a request that raised `error` is worth trying again."""
    if isinstance(error, NOT_SENT):
        return True
    return idempotent and isinstance(error, NO_ANSWER)
