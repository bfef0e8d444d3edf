"""Webhook endpoints in PostgreSQL: made, listed, read and deleted in one place, and their
deliveries log read. A new endpoint's secret is returned by `create_endpoint` only; the row
keeps it to sign with (docs/security.md). A project has at most
`webhook_endpoints_per_project_max` live endpoints: a creation locks the project's row before
it counts them, so two creations at once cannot both pass the limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.ids import new_id
from shared.webhooks.signatures import new_secret


class Queries(Protocol):
    """Where the statements run: an asyncpg connection, or the gateway's `Database`."""

    async def fetch(self, query: str, *arguments: Any) -> Any: ...

    async def fetchrow(self, query: str, *arguments: Any) -> Any: ...

    async def fetchval(self, query: str, *arguments: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint as the API shows it, without its secret."""

    id: str
    project_id: str
    url: str
    events: list[str]
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of the deliveries log."""

    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    at: datetime


class TooManyEndpoints(Exception):
    """The project has its limit of live endpoints."""


COLUMNS = "id, project_id, url, events, description, created_at"
# The project's row is locked first, in a statement of its own (FOR NO KEY UPDATE does not
# block the writers' foreign-key checks), so that concurrent creations count one after the
# other: the count's statement starts after the lock is granted and sees the other's insert.
LOCK_PROJECT = "SELECT id FROM projects WHERE id = $1 FOR NO KEY UPDATE"
# $1 project, $2 the limit, $3 id, $4 url, $5 events, $6 description, $7 secret. No row: the
# project is at its limit.
INSERT_ENDPOINT = f"""
INSERT INTO webhook_endpoints (id, project_id, url, events, description, secret)
SELECT $3, $1, $4, $5, $6, $7
WHERE (SELECT count(*) FROM webhook_endpoints WHERE project_id = $1 AND deleted_at IS NULL) < $2
RETURNING {COLUMNS}
"""
LIST_ENDPOINTS = f"""
SELECT {COLUMNS} FROM webhook_endpoints WHERE project_id = $1 AND deleted_at IS NULL
ORDER BY id LIMIT $2 OFFSET $3
"""
SELECT_ENDPOINT = f"""
SELECT {COLUMNS} FROM webhook_endpoints
WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL
"""
# Deleting stops delivery: the endpoint's pending deliveries go in the same transaction, by a
# statement of their own that starts once the endpoint's row is updated. A sender turning
# events into deliveries holds that row (FOR SHARE, worker/webhook_store.py) until it commits,
# so the deletion sees its deliveries, or the sender sees the endpoint deleted. (An attempt
# already on its way may still arrive.)
DELETE_ENDPOINT = """
UPDATE webhook_endpoints SET deleted_at = now(), secret = NULL
WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL RETURNING id
"""
DROP_DELIVERIES = "DELETE FROM webhook_deliveries WHERE endpoint_id = $1"
LIST_ATTEMPTS = """
SELECT event_id, event_type, attempt, status_code, error, at FROM webhook_attempts
WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3
"""


def endpoint_of(row: Any) -> Endpoint:
    """A row of `webhook_endpoints` (the COLUMNS above) as an Endpoint."""
    return Endpoint(
        id=row["id"],
        project_id=row["project_id"],
        url=row["url"],
        events=list(row["events"]),
        description=row["description"],
        created_at=row["created_at"],
    )


async def create_endpoint(
    queries: Queries,
    project_id: str,
    url: str,
    events: list[str],
    description: str,
    endpoints_max: int,
) -> tuple[Endpoint, str]:
    """A new endpoint of the project, and its secret to show once; TooManyEndpoints when the
    project has `endpoints_max` live ones. Run inside a database transaction (the project's
    lock lasts until it ends); the caller has checked that the project is the tenant's and
    that the URL and events are allowed."""
    secret = new_secret()
    await queries.fetchval(LOCK_PROJECT, project_id)
    row = await queries.fetchrow(
        INSERT_ENDPOINT, project_id, endpoints_max, new_id(), url, events, description, secret
    )
    if row is None:
        raise TooManyEndpoints(f"a project has at most {endpoints_max} webhook endpoints")
    return endpoint_of(row), secret


async def list_endpoints(
    queries: Queries, project_id: str, limit: int, offset: int = 0
) -> list[Endpoint]:
    """The project's live endpoints, oldest first."""
    rows = await queries.fetch(LIST_ENDPOINTS, project_id, limit, offset)
    return [endpoint_of(row) for row in rows]


async def get_endpoint(queries: Queries, project_id: str, endpoint_id: str) -> Endpoint | None:
    """The project's live endpoint, or None."""
    row = await queries.fetchrow(SELECT_ENDPOINT, endpoint_id, project_id)
    return None if row is None else endpoint_of(row)


async def delete_endpoint(queries: Queries, project_id: str, endpoint_id: str) -> bool:
    """Delete the endpoint and drop its pending deliveries, inside a database transaction;
    False if there was none."""
    if await queries.fetchval(DELETE_ENDPOINT, endpoint_id, project_id) is None:
        return False
    await queries.fetchval(DROP_DELIVERIES, endpoint_id)
    return True


async def list_attempts(
    queries: Queries, endpoint_id: str, limit: int, offset: int = 0
) -> list[Attempt]:
    """The endpoint's logged attempts, newest first."""
    rows = await queries.fetch(LIST_ATTEMPTS, endpoint_id, limit, offset)
    return [
        Attempt(
            event_id=row["event_id"],
            event_type=row["event_type"],
            attempt=row["attempt"],
            status_code=row["status_code"],
            error=row["error"],
            at=row["at"],
        )
        for row in rows
    ]
