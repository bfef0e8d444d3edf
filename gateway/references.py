"""Reference IDs that PostgreSQL holds and Redis may have lost (a flush, an eviction, a
reservation older than `reference_ttl_s`): one indexed lookup per group of new reservations,
so that a duplicate is answered 409 whenever either of them holds it
(docs/decisions/0002-reference-ids-in-postgresql.md).

The lookup is a fast path's safety net, not the decision: the worker's UNIQUE constraint
decides what is applied. So a lookup that fails or takes longer than
`reference_lookup_timeout_ms` answers "not known" rather than holding up the submission, and
lookups are skipped for `reference_lookup_pause_ms` after one failed, so that a PostgreSQL
outage costs the submit path nothing but this net."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from gateway.db import SingleConnection
from shared.coalescer import Coalescer
from shared.contract.messages import transaction_from_row
from shared.errors import DatabaseUnavailable
from shared.settings import Settings

log = logging.getLogger(__name__)
SELECT_APPLIED = """
SELECT t.id, t.project_id, t.reference_id, t.request_digest, t.status, t.operations, t.failure,
       t.created_at, t.completed_at, t.metadata, t.reversal_of, t.reversed_by
FROM transactions t
JOIN unnest($1::text[], $2::text[]) AS k(project_id, reference_id)
  ON t.project_id = k.project_id AND t.reference_id = k.reference_id
"""


@dataclass(frozen=True, slots=True)
class Applied:
    """The transaction that holds a reference ID in PostgreSQL: its digest and its state."""

    transaction_id: str
    digest: bytes
    state: dict[str, Any]


Lookup = tuple[str, str]  # project id, reference id


class AppliedReferences:
    """Finds which reference IDs PostgreSQL holds, the lookups of one turn of the event loop (or
    made while one query is on its way) in one query."""

    def __init__(self, settings: Settings) -> None:
        self._timeout_s = settings.reference_lookup_timeout_ms / 1000
        self._database = SingleConnection(
            settings, application_name="cloudwallet-gateway-references", timeout_s=self._timeout_s
        )
        self._pause_s = settings.reference_lookup_pause_ms / 1000
        self._paused_until_s = 0.0
        self._coalescer: Coalescer[Lookup, Applied | None] = Coalescer(
            self._find,
            items_max=settings.reference_lookups_per_query_max,
            sends_in_flight_max=1,
            copy_error=lambda error: error,
        )

    async def find(self, project_id: str, reference_id: str) -> Applied | None:
        """The applied transaction holding the reference ID; None if there is none, or if
        PostgreSQL cannot say in time."""
        if self._paused():
            return None
        return await self._coalescer.submit((project_id, reference_id))

    async def find_many(self, project_id: str, reference_ids: list[str]) -> list[Applied | None]:
        """`find` for many reference IDs of one project. They go through the same coalescer as
        single lookups, so that one query at a time uses the connection (a lookup waiting for
        another's turn would spend its time budget waiting, and pause every lookup)."""
        if not reference_ids or self._paused():
            return [None] * len(reference_ids)
        return list(
            await asyncio.gather(
                *(
                    self._coalescer.submit((project_id, reference_id))
                    for reference_id in reference_ids
                )
            )
        )

    async def close(self) -> None:
        await self._database.close()

    def _paused(self) -> bool:
        return asyncio.get_running_loop().time() < self._paused_until_s

    async def _find(self, lookups: list[Lookup]) -> list[Applied | None]:
        projects = [project_id for project_id, _ in lookups]
        references = [reference_id for _, reference_id in lookups]
        try:
            rows = await self._database.fetch(SELECT_APPLIED, projects, references)
        except DatabaseUnavailable as error:
            loop = asyncio.get_running_loop()
            if loop.time() >= self._paused_until_s:
                log.warning(
                    "reference lookups paused for %s s: %s",
                    self._pause_s,
                    type(error.__cause__).__name__,
                )
            self._paused_until_s = loop.time() + self._pause_s
            return [None] * len(lookups)
        found = {
            (row["project_id"], row["reference_id"]): Applied(
                row["id"], bytes(row["request_digest"]), transaction_from_row(row)
            )
            for row in rows
        }
        return [found.get(lookup) for lookup in lookups]
