"""One settings object, read once from `CLOUDWALLET_*` environment variables at start and
passed explicitly."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of cloudwallet; names carry their units."""

    model_config = SettingsConfigDict(env_prefix="CLOUDWALLET_", frozen=True, extra="ignore")

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/cloudwallet")
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Let several gateway processes of this machine listen on the same port (SO_REUSEPORT): the
    # kernel spreads the connections among them, one event loop per core (docs/scaling.md).
    http_reuse_port: bool = False
    # Who runs this deployment, as the OpenAPI document's `info.contact` names it (a
    # self-hosted service's contact is its operator); an empty URL or email is left out.
    api_contact_name: str = Field(default="cloudwallet operators", min_length=1, max_length=200)
    api_contact_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    api_contact_email: str = Field(default="", pattern=r"^([^@\s]+@[^@\s]+)?$")

    # Operating it (docs/operations.md). Logs: the least level written, and text lines or JSON
    # lines (one object per line, for a log shipper); the gateway's access log, one line per
    # request. A request id (X-Request-Id) of the client's is kept when it has at most
    # request_id_length_max characters of [A-Za-z0-9._:-], else replaced by a new one.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True
    request_id_length_max: int = Field(default=128, ge=16, le=1024)
    # /ready answers 503 unless PostgreSQL, Redis and the broker each answer within this.
    ready_timeout_ms: int = Field(default=1000, ge=1)
    # The worker serves /metrics, /health and /ready here (0: not at all); a port already
    # taken is logged and the worker runs without them. Its gauges read from the broker and
    # the database (queue depths, outbox backlog) are refreshed every metrics_refresh_ms.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=8081, ge=0, le=65535)
    metrics_refresh_ms: int = Field(default=5000, ge=100)
    # OpenTelemetry traces (docs/operations.md): off, written to standard output (console), or
    # sent to a collector over OTLP/HTTP (otlp, which needs the `otlp` extra installed) at
    # tracing_otlp_endpoint (unset: the exporter's OTEL_EXPORTER_OTLP_* variables, else
    # http://localhost:4318/v1/traces). Asked for without its packages, the process stops.
    tracing: Literal["off", "console", "otlp"] = "off"
    tracing_otlp_endpoint: str | None = None
    # A process that starts while a service is down keeps trying to reach it, this long apart,
    # until it answers or the process is stopped; meanwhile /ready names the service.
    dependency_retry_ms: int = Field(default=2000, ge=10)

    partition_count: int = Field(default=8, ge=1, le=1024)

    request_body_bytes_max: int = Field(default=1024 * 1024, ge=1024)
    operations_per_transaction_max: int = Field(default=100, ge=1, le=10_000)
    reference_id_length_max: int = Field(default=128, ge=1, le=1024)
    # How deep a JSON body may nest objects and arrays (gateway/http.py decode_json); no route's
    # body nests more than 5 deep. A deeper one is a 400; the bound stays far below Python's
    # recursion limit, which the standard JSON parser and pydantic count against.
    json_depth_max: int = Field(default=32, ge=8, le=256)
    transactions_per_batch_max: int = Field(default=1000, ge=1, le=10_000)
    # The largest queue message the gateway publishes: a batch, or the submissions of one loop
    # turn, travels in as many messages as this takes (a transaction larger than it, alone). A
    # writer holds up to 4 x batch_size_max deliveries, so this bounds its memory per partition.
    message_bytes_max: int = Field(default=32 * 1024, ge=1024)
    submissions_in_flight_max: int = Field(default=4096, ge=1)
    # Admission by waiting time: once the oldest submission in progress has waited this long,
    # new ones are refused at once (429 with Retry-After) rather than queued behind it.
    submission_wait_max_ms: int = Field(default=1000, ge=1)
    # A duplicate referenceId whose first submission is still being published waits at most this
    # long for the broker's confirm of that publish, then answers 409 (or 503 if it failed, or
    # if the unconfirmed reservation expired first: reference_pending_ttl_s).
    duplicate_wait_max_ms: int = Field(default=6000, ge=1)
    # Duplicates waiting so at once, per gateway process; past it a duplicate of an unconfirmed
    # holder answers 503 ReferenceIdInProgress at once (each one polls Redis while it waits).
    duplicate_waits_max: int = Field(default=256, ge=1)
    # The one PostgreSQL lookup per group of new reservations that finds reference IDs Redis
    # has lost (docs/decisions/0002-reference-ids-in-postgresql.md): its bound, and how long
    # lookups are skipped after one failed.
    reference_lookup_timeout_ms: int = Field(default=250, ge=1)
    reference_lookup_pause_ms: int = Field(default=1000, ge=0)
    # Everything one request asks of Redis, together, and each Redis command, is bounded by this.
    redis_timeout_ms: int = Field(default=2000, ge=1)
    # Coalesced commands (the gateway's reservations and their confirms in Redis, and one
    # project's coalesced publishes) on their way at once; what arrives meanwhile waits for the
    # first of them to be answered and then travels together (shared/coalescer.py).
    coalesced_sends_in_flight_max: int = Field(default=1, ge=1)
    transaction_batches_in_flight_max: int = Field(default=8, ge=1)
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=500, ge=1)

    publish_confirm_timeout_ms: int = Field(default=5000, ge=1)
    publisher_channel_count: int = Field(default=4, ge=1, le=64)
    retry_after_s: int = Field(default=1, ge=1)
    queue_length_max: int = Field(default=1_000_000, ge=1)
    # RabbitMQ 3.10 counts a message as delivered again whenever the channel holding it closes
    # (a worker crash, a broker connection lost, a failover), so the limit must absorb many
    # outages; the worker dead-letters what can never succeed itself. See docs/guarantees.md.
    delivery_limit: int = Field(default=50, ge=1)
    amqp_heartbeat_s: int = Field(default=5, ge=1)
    amqp_reconnect_interval_ms: int = Field(default=1000, ge=1)
    broker_close_timeout_ms: int = Field(default=5000, ge=1)
    # Broker failures (worker/main.py): how long one attempt to connect may take (a stalled
    # network answers nothing), and how long a partition whose writer failed waits for a new
    # one, doubling with each failure in a row up to the maximum.
    amqp_connect_timeout_ms: int = Field(default=10_000, ge=1)
    writer_restart_backoff_ms: int = Field(default=1000, ge=1)
    writer_restart_backoff_max_ms: int = Field(default=30_000, ge=1)

    batch_size_max: int = Field(default=500, ge=1, le=10_000)
    batch_wait_ms: int = Field(default=0, ge=0)
    batch_retry_backoff_ms: int = Field(default=200, ge=1)
    batch_retry_backoff_max_ms: int = Field(default=5000, ge=1)
    # Wallets a writer remembers to plan its next batch ahead with (worker/batch.py WalletCache),
    # a few hundred bytes each; 0 plans nothing ahead.
    wallet_cache_entries_max: int = Field(default=50_000, ge=0)
    # The events outbox (worker/outbox.py): rows relayed per pass, and the pause after a
    # relay that failed.
    outbox_relay_batches_max: int = Field(default=64, ge=1)
    # The expiry of holds (worker/expiry.py): how often the partition's writer looks for
    # Pending holds past their instant, how many it publishes the expiry of at a time, and after
    # how long it publishes again the expiry of one still Pending.
    hold_expiry_scan_interval_ms: int = Field(default=1000, ge=10, le=5000)
    hold_expiry_scan_holds_max: int = Field(default=1000, ge=1, le=100_000)
    hold_expiry_republish_ms: int = Field(default=30_000, ge=1000)
    outbox_relay_retry_ms: int = Field(default=1000, ge=1)

    database_pool_size_max: int = Field(default=10, ge=1)
    database_idle_in_transaction_timeout_ms: int = Field(default=10_000, ge=100)
    database_lock_timeout_ms: int = Field(default=5_000, ge=10)
    # Partition ownership across worker processes (worker/ownership.py, worker/lease.py).
    worker_heartbeat_ms: int = Field(default=1_000, ge=50)
    worker_timeout_ms: int = Field(default=5_000, ge=100)
    lease_idle_session_timeout_ms: int = Field(default=10_000, ge=100)
    lease_retry_ms: int = Field(default=200, ge=10)
    database_command_timeout_ms: int = Field(default=30_000, ge=100)

    # Net allocations between two collections of the garbage collector's youngest generation in
    # a worker process (Python's default is 700); 0 keeps Python's. A writer's batch keeps tens
    # of thousands of objects alive while it is planned and written, which the default
    # threshold scans again and again (docs/decisions/0014-garbage-collector-thresholds.md).
    gc_threshold_allocations: int = Field(default=50_000, ge=0)

    http_shutdown_timeout_s: float = Field(default=10, ge=0)

    reference_pending_ttl_s: int = Field(default=15, ge=1)

    redis_connections_max: int = Field(default=64, ge=1)
    reference_ttl_s: int = Field(default=7 * 24 * 3600, ge=1)
    status_ttl_s: int = Field(default=24 * 3600, ge=1)
    auth_cache_ttl_s: int = Field(default=30, ge=0)
    auth_cache_entries_max: int = Field(default=10_000, ge=1)
    # The gateway without PostgreSQL (gateway/auth.py, gateway/db.py). Keys and project
    # ownership are looked up again once older than their TTL; while PostgreSQL cannot answer,
    # what was looked up less than auth_cache_stale_max_s ago is still used, and looked up
    # again every auth_cache_refresh_retry_ms.
    auth_project_cache_ttl_s: int = Field(default=300, ge=0)
    auth_cache_stale_max_s: int = Field(default=600, ge=0)
    auth_cache_refresh_retry_ms: int = Field(default=1000, ge=1)
    # Key ids PostgreSQL does not know, remembered so that asking again costs no query.
    auth_unknown_key_ttl_s: int = Field(default=10, ge=0)
    auth_unknown_key_entries_max: int = Field(default=10_000, ge=1)
    # Failed authentication per client address (a token bucket): up to
    # auth_failures_per_address_max failures at once, regained evenly over auth_failure_window_s;
    # then 429 with Retry-After. Addresses remembered at most: the oldest goes first.
    auth_failures_per_address_max: int = Field(default=10, ge=1)
    auth_failure_window_s: int = Field(default=60, ge=1)
    auth_failure_addresses_max: int = Field(default=10_000, ge=1)
    # Access (issue 25, docs/decisions/0021-access.md). Keys revoked while a gateway runs that it
    # remembers, so that no cache entry or look-up in flight serves them again; revocation
    # notices travel by Redis pub/sub, and a lost subscription is tried again every
    # auth_revocations_retry_ms (meanwhile a revoked key works until its cache entry expires,
    # auth_cache_ttl_s).
    auth_revoked_keys_max: int = Field(default=100_000, ge=1)
    auth_revocations_retry_ms: int = Field(default=500, ge=10)
    # Rate limits per key (a token bucket in Redis shared by every gateway): requests a second
    # and burst, for keys that set none of their own. 0 requests a second turns them off.
    rate_limit_per_s: int = Field(default=1000, ge=0, le=1_000_000)
    rate_limit_burst: int = Field(default=2000, ge=1, le=10_000_000)
    # A gateway takes a busy key's requests from Redis in leases of up to 1/rate_limit_lease_parts
    # of its burst (a burst smaller than that: one request at a time, exactly), each used for at
    # most rate_limit_lease_ms (gateway/rate_limits.py).
    rate_limit_lease_parts: int = Field(default=100, ge=1)
    rate_limit_lease_ms: int = Field(default=100, ge=1, le=10_000)
    # How long a request waits for its key's bucket before it goes unlimited, and how long the
    # gateway then leaves Redis alone for the limits (the submit path's own Redis budget,
    # redis_timeout_ms, is not spent on them).
    rate_limit_redis_wait_ms: int = Field(default=200, ge=1)
    rate_limit_outage_pause_ms: int = Field(default=1000, ge=0)
    # OAuth2 client credentials: how long an access token lives, and how often the gateway
    # reads the signing keys again (a token naming a kid it does not know reads them at once,
    # at most once per oauth_signing_keys_reload_min_ms).
    oauth_token_ttl_s: int = Field(default=3600, ge=1, le=86_400)
    oauth_signing_keys_refresh_s: int = Field(default=60, ge=1)
    oauth_signing_keys_reload_min_ms: int = Field(default=1000, ge=1)
    # Every database call of the gateway, waiting for a connection included, and every new
    # connection of any process: past it, the gateway answers 503 DatabaseUnavailable.
    database_query_timeout_ms: int = Field(default=3000, ge=1)
    database_connect_timeout_ms: int = Field(default=5000, ge=1)

    # Limits that were constants of their modules (issue 22, "limits only in Settings").
    # A duplicate referenceId whose holder's publish is unconfirmed polls Redis (gateway/
    # duplicates.py): the first pause, doubling up to the longest.
    duplicate_poll_first_ms: int = Field(default=5, ge=1)
    duplicate_poll_max_ms: int = Field(default=100, ge=1)
    # Reference IDs looked up in PostgreSQL by one query (gateway/references.py).
    reference_lookups_per_query_max: int = Field(default=1000, ge=1)
    # Reservations, or their confirms, sent to Redis in one command (shared/redis/status_cache.py).
    redis_coalesced_items_max: int = Field(default=256, ge=1)
    # The least time a connection is given to be reset on its way back to the gateway's pool
    # (gateway/db.py): a call that used up its budget still returns a healthy connection.
    database_release_timeout_min_ms: int = Field(default=50, ge=1)
    # Net allocations between two collections of the youngest generation in a gateway process,
    # after its start-up objects are frozen; 0 keeps Python's (700). The gateway's counterpart
    # of gc_threshold_allocations (docs/decisions/0014-garbage-collector-thresholds.md).
    gateway_gc_threshold_allocations: int = Field(default=20_000, ge=0)
    # Projects whose publish coalescer a publisher keeps between publishes (shared/amqp/
    # publisher.py), a few hundred bytes each; past it the idle ones are dropped.
    publish_coalescers_max: int = Field(default=10_000, ge=1)

    # Webhooks (design section 12, docs/decisions/0022-webhooks.md). Endpoints a project may
    # have; a URL's length; whether URLs may name private, loopback or link-local addresses
    # (tests and closed networks only: otherwise the gateway refuses them, resolving a host name
    # within webhook_resolve_timeout_ms, and the sender will not connect to one).
    webhook_endpoints_per_project_max: int = Field(default=20, ge=1, le=1000)
    webhook_url_length_max: int = Field(default=2048, ge=64, le=2048)
    webhook_allow_private: bool = False
    webhook_resolve_timeout_ms: int = Field(default=2000, ge=1)
    # Delivery (worker/webhooks.py): whether a worker process delivers (else run `cloudwallet
    # webhooks`); how often it looks for new events and due deliveries; events fanned out per
    # pass; one attempt's timeout; attempts at once per endpoint and per process; the retry
    # schedule (the first pause, doubling up to the longest) and when a delivery is given up
    # (attempts or age, whichever comes first); the attempts the deliveries log keeps per endpoint.
    webhook_delivery: bool = True
    webhook_poll_interval_ms: int = Field(default=250, ge=10, le=60_000)
    webhook_fanout_batches_max: int = Field(default=64, ge=1, le=10_000)
    webhook_timeout_ms: int = Field(default=10_000, ge=100, le=120_000)
    webhook_concurrency_per_endpoint_max: int = Field(default=4, ge=1, le=256)
    webhook_in_flight_max: int = Field(default=256, ge=1, le=10_000)
    webhook_retry_first_ms: int = Field(default=5_000, ge=1)
    webhook_retry_max_ms: int = Field(default=3_600_000, ge=1)
    webhook_attempts_max: int = Field(default=12, ge=1, le=100)
    webhook_age_max_s: int = Field(default=3 * 24 * 3600, ge=1)
    webhook_attempts_kept_per_endpoint: int = Field(default=100, ge=1, le=10_000)
    # A claimed delivery is due again this long after its attempt's timeout: the time to record
    # its outcome. A sender that died mid-delivery so has it sent again.
    webhook_claim_margin_ms: int = Field(default=5_000, ge=100)
    # Outcomes of attempts a sender records together: at once when this many have ended, else
    # at its next poll (their claims keep them from being sent again meanwhile).
    webhook_record_batch_size: int = Field(default=64, ge=1, le=10_000)
    # The sender beside a worker's writers claims nothing while one of them has committed a
    # full batch (batch_size_max) within this long: deliveries wait for a backlog to drain
    # rather than slow it. 0: it never waits (a `cloudwallet webhooks` process never does).
    webhook_defer_to_writers_ms: int = Field(default=1000, ge=0, le=60_000)
    # A database failure of the sender: the pause before it tries again, doubling up to this.
    webhook_database_retry_max_ms: int = Field(default=10_000, ge=10)

    @classmethod
    def default_of(cls, name: str) -> int:
        """The default of the limit `name`: what validation without the settings' context (a
        pydantic model's own, an internal publisher's) applies."""
        return int(cls.model_fields[name].default)

    @classmethod
    def ceiling_of(cls, name: str) -> int:
        """The highest value the limit `name` may be configured to (its `le`): what a model
        bounds before the configured limit is known."""
        for constraint in cls.model_fields[name].metadata:
            ceiling = getattr(constraint, "le", None)  # annotated_types.Le, from Field(le=...)
            if ceiling is not None:
                return int(ceiling)
        raise ValueError(f"{name} has no ceiling")

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.page_size_default > self.page_size_max:
            raise ValueError("page_size_default must not exceed page_size_max")
        if self.reference_pending_ttl_s * 1000 <= self.publish_confirm_timeout_ms:
            raise ValueError("reference_pending_ttl_s must outlast publish_confirm_timeout_ms")
        if self.reference_pending_ttl_s > self.reference_ttl_s:
            raise ValueError("reference_pending_ttl_s must not exceed reference_ttl_s")
        if self.worker_heartbeat_ms * 3 > self.worker_timeout_ms:
            raise ValueError("worker_timeout_ms must be at least three worker_heartbeat_ms")
        if self.worker_heartbeat_ms * 3 > self.lease_idle_session_timeout_ms:
            raise ValueError("lease_idle_session_timeout_ms must be at least three heartbeats")
        if self.webhook_claim_margin_ms <= self.webhook_poll_interval_ms:
            raise ValueError("webhook_claim_margin_ms must outlast webhook_poll_interval_ms")
        if self.webhook_retry_first_ms > self.webhook_retry_max_ms:
            raise ValueError("webhook_retry_first_ms must not exceed webhook_retry_max_ms")
        return self


def load_settings() -> Settings:
    """Read the settings from the environment; a bad value stops the caller with a clear message."""
    return Settings()
