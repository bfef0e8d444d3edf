"""Prometheus metrics (prometheus-client) for every process: each process part (the gateway, the
worker) keeps its metrics in a registry of its own, so that `cloudwallet run`, and the tests
that build many applications in one process, never register a name twice. Names begin
`cloudwallet_`; labels take few values (route templates, failure codes, statuses, partitions),
never ids. docs/operations.md lists them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds: from a millisecond (a Redis round trip) to the bounds the settings put on a request.
LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Transactions per batch, up to the largest `batch_size_max` allows.
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus' text format."""
    return generate_latest(registry)
