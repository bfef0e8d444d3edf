"""A transaction's current state, as the API shows it: Redis first, then PostgreSQL."""

from __future__ import annotations

from typing import Any

from gateway.db import Database
from shared.contract.messages import transaction_from_row
from shared.errors import CacheUnavailable, DatabaseUnavailable
from shared.redis.status_cache import StatusCache

SELECT_TRANSACTIONS = """
SELECT t.*, t.id AS requested_id FROM transactions t
WHERE t.id = ANY($1::text[]) AND t.project_id = $2
UNION ALL
SELECT t.*, a.id AS requested_id FROM transaction_aliases a
JOIN transactions t ON t.id = a.transaction_id
WHERE a.id = ANY($1::text[]) AND a.project_id = $2
"""


class TransactionStates:
    """Reads the current state of transactions from the status cache and the database."""

    def __init__(self, cache: StatusCache, database: Database) -> None:
        self._cache = cache
        self._database = database

    async def current(self, project_id: str, transaction_ids: list[str]) -> dict[str, Any]:
        """The current state of each known transaction, by id: Redis first for all of them in
        one round trip, then one PostgreSQL query for those Redis has nothing final for (it may
        have been flushed, or a worker may have committed without reaching Redis).

        With Redis unreachable, a transaction PostgreSQL does not know may still be waiting in
        its queue: that is a 503, not an unknown transaction. With PostgreSQL unreachable, a
        transaction Redis knows as Pending is answered Pending (it may have been applied
        meanwhile: the next read tells), and one Redis does not know is a 503."""
        cache_error: CacheUnavailable | None = None
        try:
            cached = await self._cache.get_many(project_id, transaction_ids)
        except CacheUnavailable as error:
            cached, cache_error = [None] * len(transaction_ids), error
        found: dict[str, dict[str, Any]] = {}
        unsettled: list[str] = []
        for transaction_id, state in zip(transaction_ids, cached, strict=True):
            if state is not None:
                found[transaction_id] = state
            if state is None or state.get("status") == "Pending":
                unsettled.append(transaction_id)
        if unsettled:
            try:
                rows = await self._database.fetch(SELECT_TRANSACTIONS, unsettled, project_id)
            except DatabaseUnavailable:
                if any(transaction_id not in found for transaction_id in transaction_ids):
                    raise
                return found
            for row in rows:
                found[row["requested_id"]] = transaction_from_row(row)
        if cache_error is not None and any(tid not in found for tid in transaction_ids):
            raise cache_error
        return found
