"""The webhook sender (design section 12, docs/decisions/0022-webhooks.md): a task of every
worker process (or the `cloudwallet webhooks` process) that turns the webhooks' outbox into
deliveries and makes them, at least once.

A batch's own statement writes its webhooks' outbox row (worker/store.py), so a committed
event is never lost. Each pass of the sender (every `webhook_poll_interval_ms`, or as soon as
an attempt ends) records the attempts that ended, turns outbox rows into deliveries, and claims
due deliveries for the places it has free: `webhook_concurrency_per_endpoint_max` per endpoint
and `webhook_in_flight_max` in all. Each attempt runs as a task of its own, bounded by
`webhook_timeout_ms`, so a slow or dead endpoint holds only its own places, and the writers
never wait for any of it. A failed attempt is tried again on an exponential schedule
(shared/webhooks/schedule.py) until a 2xx, or given up after `webhook_attempts_max` attempts
or `webhook_age_max_s`. A claimed delivery is due again once its claim lapses, so a sender
that dies mid-delivery leaves it to be sent again: receivers deduplicate on `webhook-id`.

The sender has its own small pool, apart from the writers'. PostgreSQL lost is waited out
(a pause doubling up to `webhook_database_retry_max_ms`); the sender never ends before `stop`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from prometheus_client import Counter

from shared.database import TRANSIENT_ERRORS, Connection, create_pool
from shared.settings import Settings
from shared.webhooks.schedule import RetrySchedule
from worker import webhook_store
from worker.webhook_sender import Sender
from worker.webhook_store import Claimed, Outcome

log = logging.getLogger(__name__)
POOL_SIZE_MAX = 2
DATABASE_ERRORS = (*TRANSIENT_ERRORS, asyncpg.PostgresError)


def retry_schedule(settings: Settings) -> RetrySchedule:
    """The deployment's retry schedule."""
    return RetrySchedule(
        first_ms=settings.webhook_retry_first_ms,
        longest_ms=settings.webhook_retry_max_ms,
        attempts_max=settings.webhook_attempts_max,
        age_max_ms=settings.webhook_age_max_s * 1000,
    )


class WebhookSender:
    """Delivers the webhooks of every project, with other senders if there are."""

    def __init__(
        self,
        settings: Settings,
        attempts: Counter | None = None,
        writers_busy: Callable[[], bool] | None = None,
    ) -> None:
        self._settings = settings
        self._attempts_made = attempts  # by outcome: delivered, failed, given_up
        # Beside the writers: whether they have a backlog, during which nothing is claimed.
        self._writers_busy = writers_busy
        self._schedule = retry_schedule(settings)
        self._in_flight: collections.Counter[str] = collections.Counter()  # by endpoint
        self._attempts: set[asyncio.Task[None]] = set()
        self._ended: list[Outcome] = []  # attempts that ended, to record
        self._wake = asyncio.Event()
        # When the periodic work (recording every outcome, the fan-out) is next due, and
        # whether the last fan-out left rows behind.
        self._periodic_at_s = 0.0
        self._more_to_fan_out = False

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then the attempts in flight are cancelled (their
        deliveries are sent again once their claims lapse)."""
        settings = self._settings
        pool = await create_pool(
            settings, size_max=POOL_SIZE_MAX, size_min=0, application_name="cloudwallet-webhooks"
        )
        try:
            async with Sender(settings) as sender:
                try:
                    await self._loop(pool, sender, stop)
                finally:  # before the sender's session closes under them
                    for attempt in list(self._attempts):
                        attempt.cancel()
                    await asyncio.gather(*self._attempts, return_exceptions=True)
        finally:
            # What ended is recorded if the database answers in time; else it is sent again.
            with contextlib.suppress(*DATABASE_ERRORS, TimeoutError):
                margin_s = self._settings.webhook_claim_margin_ms / 1000
                async with asyncio.timeout(margin_s), pool.acquire() as connection:
                    await self._record(connection)
            await pool.close()

    async def _loop(self, pool: asyncpg.Pool, sender: Sender, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._wake.clear()
            try:
                busy = await self._pass(pool, sender)
                failures = 0
            except DATABASE_ERRORS as error:
                failures += 1
                busy = False
                pause_ms = min(
                    self._settings.webhook_poll_interval_ms * 2 ** min(failures, 10),
                    self._settings.webhook_database_retry_max_ms,
                )
                log.warning("webhooks: database unavailable (%r), retry in %s ms", error, pause_ms)
                await _wait(stop, pause_ms / 1000)
                continue
            if not busy:
                await _wait_either(stop, self._wake, self._settings.webhook_poll_interval_ms / 1000)

    async def _pass(self, pool: asyncpg.Pool, sender: Sender) -> bool:
        """Record, fan out, claim; True if there may be more to do at once. Outcomes are
        recorded and the outbox read every `webhook_poll_interval_ms` (or at once while rows
        are left), and outcomes also once `webhook_record_batch_size` have ended; a claim needs
        only free places. What ended waits for its record under its claim, so that a busy
        endpoint costs a statement per handful of deliveries, not three per delivery."""
        settings = self._settings
        now_s = asyncio.get_running_loop().time()
        periodic = self._more_to_fan_out or now_s >= self._periodic_at_s
        # Beside writers with a backlog, neither the fan-out (which reads and writes every
        # event) nor a claim: only what ended is recorded.
        deferring = self._writers_busy is not None and self._writers_busy()
        async with pool.acquire() as connection:
            if periodic or len(self._ended) >= settings.webhook_record_batch_size:
                await self._record(connection)
            if periodic and not deferring:
                batches_max = settings.webhook_fanout_batches_max
                fanned = await webhook_store.fan_out(connection, batches_max)
                self._more_to_fan_out = fanned >= batches_max
            if periodic:
                self._periodic_at_s = now_s + settings.webhook_poll_interval_ms / 1000
            places = settings.webhook_in_flight_max - len(self._attempts)
            if places <= 0 or deferring:
                return self._more_to_fan_out and not deferring
            per_endpoint = settings.webhook_concurrency_per_endpoint_max
            busy = {endpoint: per_endpoint - count for endpoint, count in self._in_flight.items()}
            claimed = await webhook_store.claim(
                connection,
                busy,
                per_endpoint,
                places,
                settings.webhook_timeout_ms + settings.webhook_claim_margin_ms,
            )
        for delivery in claimed:
            self._start(sender, delivery)
        return self._more_to_fan_out

    async def _record(self, connection: Connection) -> None:
        """Record the attempts that ended (those that end meanwhile wait for the next pass)."""
        if not self._ended:
            return
        ended = list(self._ended)
        kept = self._settings.webhook_attempts_kept_per_endpoint
        await webhook_store.record(connection, ended, kept)
        del self._ended[: len(ended)]

    def _start(self, sender: Sender, delivery: Claimed) -> None:
        self._in_flight[delivery.endpoint_id] += 1
        attempt = asyncio.create_task(self._attempt(sender, delivery))
        self._attempts.add(attempt)
        attempt.add_done_callback(self._attempts.discard)

    async def _attempt(self, sender: Sender, delivery: Claimed) -> None:
        try:
            status, error = await sender.send(
                delivery.url, delivery.secret, delivery.event_id, delivery.body
            )
        finally:
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
        delivered = status is not None and 200 <= status < 300
        pause_ms = (
            None if delivered else self._schedule.next_pause_ms(delivery.attempt, delivery.age_ms)
        )
        given_up = not delivered and pause_ms is None
        if self._attempts_made is not None:
            outcome = "delivered" if delivered else "given_up" if given_up else "failed"
            self._attempts_made.labels(outcome).inc()
        if given_up:
            log.warning(
                "webhooks: event %s to endpoint %s given up after %s attempts",
                delivery.event_id,
                delivery.endpoint_id,
                delivery.attempt,
            )
        self._ended.append(
            Outcome(
                delivery.endpoint_id,
                delivery.event_id,
                delivery.event_type,
                delivery.attempt,
                status,
                error,
                pause_ms,
            )
        )
        # The next pass records and claims for a whole endpoint's places at once, not for each
        # attempt that ends (a pass is three statements): once the endpoint has nothing in
        # flight, or as many attempts have ended as an endpoint has places.
        per_endpoint = self._settings.webhook_concurrency_per_endpoint_max
        if delivery.endpoint_id not in self._in_flight or len(self._ended) >= per_endpoint:
            self._wake.set()


async def deliver(
    settings: Settings,
    stop: asyncio.Event,
    attempts: Counter | None = None,
    writers_busy: Callable[[], bool] | None = None,
) -> None:
    """Run a webhook sender until `stop` is set; beside writers, it claims nothing while
    `writers_busy()`. A sender that fails unexpectedly is logged and started again after
    `webhook_database_retry_max_ms`: the worker's writers, beside it, go on whatever happens
    to it."""
    while not stop.is_set():
        try:
            await WebhookSender(settings, attempts, writers_busy).run(stop)
        except Exception:
            log.exception("webhooks: the sender failed; it starts again")
            await _wait(stop, settings.webhook_database_retry_max_ms / 1000)


async def _wait(stop: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=timeout_s)


async def _wait_either(stop: asyncio.Event, wake: asyncio.Event, timeout_s: float) -> None:
    """Until `stop` or `wake` is set, or `timeout_s` has passed."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
