"""What the webhook sender makes of one attempt's answer, with a fake in place of the HTTP
sender (our own small interface): a 2xx ends the delivery, anything else schedules the next
attempt on the retry schedule, and the last attempt (by count or by age) gives it up; each
outcome is counted for /metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from shared.settings import Settings
from worker.webhook_sender import Sender
from worker.webhook_store import Claimed
from worker.webhooks import WebhookSender

SETTINGS = Settings(
    webhook_retry_first_ms=1000,
    webhook_retry_max_ms=8000,
    webhook_attempts_max=5,
    webhook_age_max_s=60,
)


class AnsweringSender(Sender):
    def __init__(self, status: int | None, error: str | None) -> None:
        super().__init__(SETTINGS)
        self.answer = (status, error)

    async def send(
        self, url: str, secret: str, event_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        return self.answer


def claimed(attempt: int, age_ms: int = 0) -> Claimed:
    return Claimed("e1", "t1", "transaction.completed", b"{}", attempt, "http://x/", "s", age_ms)


@pytest.mark.parametrize(
    ("status", "error", "attempt", "age_ms", "pause_ms", "outcome"),
    [
        (200, None, 1, 0, None, "delivered"),
        (204, None, 5, 0, None, "delivered"),
        (500, None, 1, 0, 1000, "failed"),
        (None, "timed out after 10000 ms", 3, 3000, 4000, "failed"),
        (302, None, 4, 7000, 8000, "failed"),  # a redirect is not followed
        (500, None, 5, 0, None, "given_up"),  # the last attempt
        (None, "refused", 2, 59_000, None, "given_up"),  # the next would be too old
    ],
)
async def test_an_answer_ends_or_schedules_the_delivery(
    status: int | None,
    error: str | None,
    attempt: int,
    age_ms: int,
    pause_ms: int | None,
    outcome: str,
) -> None:
    counter = Counter("attempts", "", ("outcome",), registry=CollectorRegistry())
    webhook_sender = WebhookSender(SETTINGS, counter)
    await webhook_sender._attempt(AnsweringSender(status, error), claimed(attempt, age_ms))
    [ended] = webhook_sender._ended
    assert (ended.status_code, ended.error, ended.attempt) == (status, error, attempt)
    assert ended.pause_ms == pause_ms
    assert counter.labels(outcome)._value.get() == 1
    assert webhook_sender._in_flight == {}


def test_the_sender_beside_the_writers_waits_while_one_has_a_backlog() -> None:
    import time

    from worker.main import _writers_busy
    from worker.metrics import WorkerMetrics

    metrics = WorkerMetrics()
    busy = _writers_busy(Settings(webhook_defer_to_writers_ms=1000), metrics)
    assert busy is not None and not busy()  # no full batch yet
    metrics.full_batch_at_s = time.monotonic()
    assert busy()
    metrics.full_batch_at_s = time.monotonic() - 1.5
    assert not busy()
    assert _writers_busy(Settings(webhook_defer_to_writers_ms=0), metrics) is None
