"""The webhook sender's SQL (docs/decisions/0022-webhooks.md): turning the webhooks' outbox
rows into deliveries, claiming the due deliveries a few per endpoint, and recording what each
attempt got, with the deliveries log kept to its bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.contract.messages import hold_from_row, transaction_from_row
from shared.database import Connection
from shared.webhooks.events import Event, subscribed, transaction_events

# Rows another sender is turning into deliveries are skipped, not waited for.
TAKE_OUTBOX = """
SELECT partition, batch_id, transaction_ids FROM webhook_outbox
ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""
TRANSACTIONS = "SELECT * FROM transactions WHERE id = ANY($1::text[])"
HOLDS = "SELECT * FROM holds WHERE id = ANY($1::text[])"
# The live endpoints of the events' projects, held until the deliveries are committed: an
# endpoint deleted meanwhile is either seen deleted here or has these deliveries dropped by its
# deletion (shared/webhooks/endpoints.py DELETE_ENDPOINT).
ENDPOINTS_OF = """
SELECT id, project_id, events FROM webhook_endpoints
WHERE project_id = ANY($1::text[]) AND deleted_at IS NULL
FOR SHARE
"""
INSERT_DELIVERIES = """
INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""
FORGET_OUTBOX = """
DELETE FROM webhook_outbox
WHERE (partition, batch_id) IN (SELECT * FROM unnest($1::integer[], $2::text[]))
"""
# The due deliveries of each live endpoint, oldest first, at most as many as the endpoint has
# free places in this sender ($1 the endpoints with deliveries in flight, $2 their free places,
# $3 the places of an endpoint with none), and at most $4 in all. Each is claimed by moving its
# next attempt $5 ms ahead, past the attempt's timeout: a sender that dies leaves it due again
# then. One endpoint's backlog so never fills the places of another.
CLAIM = """
WITH claimed AS (
  SELECT d.endpoint_id, d.event_id
  FROM webhook_endpoints e
  LEFT JOIN unnest($1::text[], $2::integer[]) AS busy(endpoint_id, free)
    ON busy.endpoint_id = e.id
  CROSS JOIN LATERAL (
    SELECT endpoint_id, event_id FROM webhook_deliveries
    WHERE endpoint_id = e.id AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT coalesce(busy.free, $3)
    FOR UPDATE SKIP LOCKED
  ) d
  WHERE e.deleted_at IS NULL AND coalesce(busy.free, $3) > 0
  LIMIT $4
)
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = now() + $5 * interval '1 millisecond'
FROM claimed c, webhook_endpoints e
WHERE d.endpoint_id = c.endpoint_id AND d.event_id = c.event_id AND e.id = d.endpoint_id
RETURNING d.endpoint_id, d.event_id, d.event_type, d.body, d.attempts, e.url, e.secret,
          (extract(epoch FROM now() - d.created_at) * 1000)::bigint AS age_ms
"""
# Each attempt's outcome: logged, and its delivery deleted (delivered, or given up: no pause)
# or due again after its pause. An endpoint deleted meanwhile has no delivery left to update.
RECORD = """
WITH outcome AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::integer[],
                       $6::text[], $7::bigint[])
    AS o(endpoint_id, event_id, event_type, attempt, status_code, error, pause_ms)
), logged AS (
  INSERT INTO webhook_attempts (endpoint_id, event_id, event_type, attempt, status_code, error)
  SELECT endpoint_id, event_id, event_type, attempt, status_code, error FROM outcome
), finished AS (
  DELETE FROM webhook_deliveries d USING outcome o
  WHERE d.endpoint_id = o.endpoint_id AND d.event_id = o.event_id AND o.pause_ms IS NULL
)
UPDATE webhook_deliveries d SET next_attempt_at = now() + o.pause_ms * interval '1 millisecond'
FROM outcome o
WHERE d.endpoint_id = o.endpoint_id AND d.event_id = o.event_id AND o.pause_ms IS NOT NULL
"""
TRIM_LOG = """
DELETE FROM webhook_attempts WHERE id IN (
  SELECT id FROM (
    SELECT id, row_number() OVER (PARTITION BY endpoint_id ORDER BY id DESC) AS newer
    FROM webhook_attempts WHERE endpoint_id = ANY($1::text[])
  ) ranked WHERE newer > $2
)
"""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for one attempt."""

    endpoint_id: str
    event_id: str
    event_type: str
    body: bytes
    attempt: int
    url: str
    secret: str
    age_ms: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt got; `pause_ms` None when the delivery is done (delivered or given
    up)."""

    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    pause_ms: int | None


async def fan_out(connection: Connection, batches_max: int) -> int:
    """Turn the oldest `batches_max` rows of the webhooks' outbox into deliveries, one per
    event and subscribed live endpoint, and delete the rows, in one database transaction;
    returns the rows taken."""
    async with connection.transaction():
        rows = await connection.fetch(TAKE_OUTBOX, batches_max)
        if not rows:
            return 0
        events = await _events(connection, [i for row in rows for i in row["transaction_ids"]])
        projects = list({event.project_id for event in events})
        endpoints = await connection.fetch(ENDPOINTS_OF, projects) if projects else []
        deliveries = [
            (endpoint["id"], event.event_id, event.event_type, event.body.decode())
            for event in events
            for endpoint in endpoints
            if endpoint["project_id"] == event.project_id
            and subscribed(endpoint["events"], event.event_type)
        ]
        if deliveries:
            await connection.execute(INSERT_DELIVERIES, *zip(*deliveries, strict=True))
        await connection.execute(
            FORGET_OUTBOX, [row["partition"] for row in rows], [row["batch_id"] for row in rows]
        )
    return len(rows)


async def _events(connection: Connection, transaction_ids: list[str]) -> list[Event]:
    """The events of these transactions, in their order, each followed by its holds'."""
    rows = {row["id"]: row for row in await connection.fetch(TRANSACTIONS, transaction_ids)}
    states = [
        (rows[i]["project_id"], transaction_from_row(rows[i])) for i in transaction_ids if i in rows
    ]
    hold_ids = [
        operation["holdId"]
        for _, state in states
        if state["status"] == "Completed"
        for operation in state["operations"]
        if "holdId" in operation
    ]
    holds: dict[str, dict[str, Any]] = {}
    if hold_ids:
        holds = {row["id"]: hold_from_row(row) for row in await connection.fetch(HOLDS, hold_ids)}
    return [
        event for project, state in states for event in transaction_events(project, state, holds)
    ]


async def claim(
    connection: Connection,
    busy: dict[str, int],
    places_per_endpoint: int,
    places_max: int,
    lease_ms: int,
) -> list[Claimed]:
    """Claim due deliveries (see CLAIM); `busy`: the free places of the endpoints with
    deliveries in flight."""
    rows = await connection.fetch(
        CLAIM, list(busy), list(busy.values()), places_per_endpoint, places_max, lease_ms
    )
    return [
        Claimed(
            endpoint_id=row["endpoint_id"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            body=row["body"].encode(),
            attempt=row["attempts"],
            url=row["url"],
            secret=row["secret"],
            age_ms=row["age_ms"],
        )
        for row in rows
    ]


async def record(connection: Connection, outcomes: list[Outcome], kept_per_endpoint: int) -> None:
    """Log the attempts and update their deliveries, then trim the log of their endpoints to
    `kept_per_endpoint` attempts each, in one database transaction."""
    columns = list(
        zip(
            *(
                (o.endpoint_id, o.event_id, o.event_type, o.attempt, o.status_code, o.error,
                 o.pause_ms)
                for o in outcomes
            ),
            strict=True,
        )
    )  # fmt: skip
    async with connection.transaction():
        await connection.execute(RECORD, *columns)
        await connection.execute(
            TRIM_LOG, list({o.endpoint_id for o in outcomes}), kept_per_endpoint
        )
