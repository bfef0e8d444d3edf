"""The worker's metrics: batches (their size, their commit's latency), transactions applied by
status and failure code, redeliveries, and the gauges read from the broker and the database
(queue depths of the partitions this process writes, the dead-letter queue, the events
outbox) by `worker/monitor.py`. One registry per process, shared by its writers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_S
from worker.batch import Outcome


class WorkerMetrics:
    """The worker's metrics, in a registry of its own."""

    def __init__(self) -> None:
        # When a writer of this process last committed a full batch (time.monotonic()): its
        # queue had a backlog. The webhook sender beside the writers waits while this is
        # recent (worker/webhooks.py).
        self.full_batch_at_s = float("-inf")
        self.registry = registry = CollectorRegistry()
        self.batch_size = Histogram(
            "cloudwallet_worker_batch_size",
            "Transactions per committed batch",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.commit_latency = Histogram(
            "cloudwallet_worker_commit_duration_seconds",
            "Time to apply and commit a batch, its retries included",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self._applied = Counter(
            "cloudwallet_transactions_applied",
            "Transactions applied, by final status and failure code (empty when Completed)",
            ("status", "code"),
            registry=registry,
        )
        self.redeliveries = Counter(
            "cloudwallet_redeliveries",
            "Transactions the broker delivered again (after a writer or a connection was lost)",
            registry=registry,
        )
        self.queue_depth = Gauge(
            "cloudwallet_queue_depth",
            "Messages ready in a partition queue this process writes",
            ("partition",),
            registry=registry,
        )
        self.dead_letters = Gauge(
            "cloudwallet_dead_letters",
            "Messages in the dead-letter queue (cloudwallet.dead)",
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            "cloudwallet_outbox_backlog",
            "Transactions whose events the broker has not yet confirmed (the events outbox)",
            registry=registry,
        )
        self.webhook_outbox_backlog = Gauge(
            "cloudwallet_webhook_outbox_backlog",
            "Transactions in the webhooks' outbox not yet turned into deliveries",
            registry=registry,
        )
        self.webhook_deliveries_pending = Gauge(
            "cloudwallet_webhook_deliveries_pending",
            "Webhook deliveries not yet made (waiting for their first attempt or a retry)",
            registry=registry,
        )
        self.webhook_attempts = Counter(
            "cloudwallet_webhook_attempts",
            "Webhook delivery attempts made by this process, by outcome",
            ("outcome",),
            registry=registry,
        )
        self.partitions = Gauge(
            "cloudwallet_worker_partitions",
            "Partitions this process writes",
            registry=registry,
        )
        self._completed = self._applied.labels("Completed", "")
        self._failed: dict[str, Counter] = {}

    def applied(self, outcomes: list[Outcome]) -> None:
        """A committed batch's new outcomes (replays were counted when first applied)."""
        completed = 0
        failed: dict[str, int] = {}
        for outcome in outcomes:
            if not outcome.new:
                continue
            body = outcome.body
            if body["status"] == "Completed":
                completed += 1
            else:
                code = body["failure"]["code"]
                failed[code] = failed.get(code, 0) + 1
        if completed:
            self._completed.inc(completed)
        for code, count in failed.items():
            counter = self._failed.get(code)
            if counter is None:
                counter = self._failed[code] = self._applied.labels("Failed", code)
            counter.inc(count)
