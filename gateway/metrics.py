"""The gateway's metrics: HTTP requests and their latency by route template and status, and
submissions accepted or refused by code.

They are counted in plain dicts and lists of this module's own, and handed to prometheus-client
only when scraped (a custom collector): a request adds to an int and a bucket, where
prometheus-client's Counter and Histogram take a lock and a label lookup for each, five times
the cost on the submit path (docs/decisions/0020-operating-signals.md). The gateway counts
from its one event-loop thread, and a scrape runs in that thread too."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from shared.metrics import LATENCY_BUCKETS_S

UNMATCHED_ROUTE = "unmatched"  # a path no route serves: one label value for them all


class Latencies:
    """One histogram's counts: per bucket (the last is +Inf), and the sum."""

    __slots__ = ("counts", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.sum_s = 0.0

    def observe(self, duration_s: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS_S, duration_s)] += 1
        self.sum_s += duration_s

    def cumulative(self) -> list[tuple[str, float]]:
        """The buckets as Prometheus has them: each counts every value up to its bound."""
        buckets = []
        total = 0
        for bound, count in zip([*LATENCY_BUCKETS_S, float("inf")], self.counts, strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return buckets


class GatewayMetrics(Collector):
    """The gateway's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latencies: dict[tuple[str, str], Latencies] = {}
        self._submissions: dict[str, int] = {}  # by code; "" for accepted
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """One request answered."""
        key = (method, route, status)
        requests = self._requests
        requests[key] = requests.get(key, 0) + 1
        latencies = self._latencies.get(key[:2])
        if latencies is None:
            latencies = self._latencies[key[:2]] = Latencies()
        latencies.observe(duration_s)

    def submitted(self, code: str | None, count: int = 1) -> None:
        """`count` transactions accepted (code None) or refused with `code`."""
        key = code or ""
        self._submissions[key] = self._submissions.get(key, 0) + count

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "cloudwallet_http_requests",
            "HTTP requests answered, by method, route template and status",
            labels=("method", "route", "status"),
        )
        for (method, route, status), count in self._requests.items():
            requests.add_metric((method, route, str(status)), count)
        yield requests
        latency = HistogramMetricFamily(
            "cloudwallet_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by method and route template",
            labels=("method", "route"),
        )
        for (method, route), latencies in self._latencies.items():
            latency.add_metric((method, route), latencies.cumulative(), latencies.sum_s)
        yield latency
        submissions = CounterMetricFamily(
            "cloudwallet_submissions",
            "Transactions submitted: accepted (202), or refused with the error code answered",
            labels=("outcome", "code"),
        )
        for code, count in self._submissions.items():
            submissions.add_metric(("refused" if code else "accepted", code), count)
        yield submissions
