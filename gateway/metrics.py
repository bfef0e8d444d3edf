"""The gateway's metrics: HTTP requests and their latency by route template and status, and
submissions accepted or refused by code. Labelled children are kept in dicts of our own: a
prometheus-client `labels()` call validates and locks each time, where the submit path needs
only a dict lookup."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.metrics import LATENCY_BUCKETS_S

UNMATCHED_ROUTE = "unmatched"  # a path no route serves: one label value for them all


class GatewayMetrics:
    """The gateway's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "cloudwallet_http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "cloudwallet_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by method and route template",
            ("method", "route"),
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._submissions = Counter(
            "cloudwallet_submissions",
            "Transactions submitted: accepted (202), or refused with the error code answered",
            ("outcome", "code"),
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[tuple[str, str], Histogram] = {}
        self._submission_children: dict[str, Counter] = {}

    def request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """One request answered."""
        key = (method, route, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self._requests.labels(
                method, route, str(status)
            )
        counter.inc()
        histogram = self._latency_children.get(key[:2])
        if histogram is None:
            histogram = self._latency_children[key[:2]] = self._latency.labels(method, route)
        histogram.observe(duration_s)

    def submitted(self, code: str | None, count: int = 1) -> None:
        """`count` transactions accepted (code None) or refused with `code`."""
        key = code or ""
        counter = self._submission_children.get(key)
        if counter is None:
            outcome = "accepted" if code is None else "refused"
            counter = self._submission_children[key] = self._submissions.labels(outcome, key)
        counter.inc(count)
