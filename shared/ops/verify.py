"""The ledger checker behind `cloudwallet verify`: reads PostgreSQL and reports every broken
invariant of the design, for one project or all.

1. No wallet balance is negative.
2. Per asset: the sum of wallet balances equals issued minus redeemed.
3. Each wallet's entries chain: balanceAfter = previous balanceAfter +/- amount, and the last
   equals the wallet's balance.
4. Each Completed transaction's debits equal its credits and it has entries; a Failed one has
   none.
5. Each Completed transaction's entries are exactly its operations' postings, once: an Issue
   on its `to`, a Redeem on its `from`, a Debit and a Credit per Transfer, with its amount. An
   operation applied twice is caught here (it keeps balances, chains and conservation whole).
6. One transaction per (project, referenceId) (the UNIQUE constraint, checked again), and an
   alias never shadows a transaction id nor crosses projects.
7. Every entry names an existing wallet and an existing transaction, of the same project (the
   database has no foreign keys on entries: the single writer is their only author).
8. Given a client log of accepted (id, referenceId) pairs: each has exactly one final status,
   the one of the transaction holding its reference ID."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from shared.database import Connection

NEGATIVE = """
SELECT id FROM wallets WHERE ($1::text IS NULL OR project_id = $1) AND balance < 0
"""
CONSERVATION = """
WITH balances AS (
    SELECT asset_id, sum(balance) AS total FROM wallets
    WHERE ($1::text IS NULL OR project_id = $1) GROUP BY asset_id
), flows AS (
    SELECT w.asset_id,
           sum(CASE e.type WHEN 'Issue' THEN e.amount WHEN 'Redeem' THEN -e.amount ELSE 0 END)
             AS net
    FROM entries e JOIN wallets w ON w.id = e.wallet_id
    WHERE ($1::text IS NULL OR w.project_id = $1) GROUP BY w.asset_id
)
SELECT b.asset_id, b.total, coalesce(f.net, 0) AS net
FROM balances b LEFT JOIN flows f USING (asset_id)
WHERE b.total <> coalesce(f.net, 0)
"""
CHAIN = """
WITH chained AS (
    SELECT e.wallet_id, e.id, e.balance_after,
           CASE WHEN e.type IN ('Issue', 'Credit') THEN e.amount ELSE -e.amount END AS delta,
           lag(e.balance_after, 1, 0::numeric) OVER w AS previous,
           row_number() OVER (PARTITION BY e.wallet_id ORDER BY e.id DESC) AS from_last
    FROM entries e JOIN wallets wl ON wl.id = e.wallet_id
    WHERE ($1::text IS NULL OR wl.project_id = $1)
    WINDOW w AS (PARTITION BY e.wallet_id ORDER BY e.id)
)
SELECT wallet_id, id FROM chained WHERE balance_after <> previous + delta
UNION ALL
SELECT c.wallet_id, c.id FROM chained c JOIN wallets w ON w.id = c.wallet_id
WHERE c.from_last = 1 AND c.balance_after <> w.balance
UNION ALL
SELECT w.id, NULL FROM wallets w
WHERE ($1::text IS NULL OR w.project_id = $1) AND w.balance <> 0
  AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.wallet_id = w.id)
"""
UNBALANCED = """
SELECT t.id, t.status FROM transactions t
LEFT JOIN entries e ON e.transaction_id = t.id
WHERE ($1::text IS NULL OR t.project_id = $1)
GROUP BY t.id, t.status
HAVING sum(CASE WHEN e.type = 'Debit' THEN e.amount ELSE 0 END)
       <> sum(CASE WHEN e.type = 'Credit' THEN e.amount ELSE 0 END)
    OR (t.status = 'Completed' AND count(e.id) = 0)
    OR (t.status = 'Failed' AND count(e.id) > 0)
"""
POSTINGS = """
WITH scope AS (
    SELECT id, status, operations FROM transactions
    WHERE ($1::text IS NULL OR project_id = $1)
), operations AS (
    SELECT s.id AS transaction_id, (o.position - 1)::integer AS operation_index, o.operation
    FROM scope s
    CROSS JOIN LATERAL jsonb_array_elements(s.operations) WITH ORDINALITY AS o(operation, position)
    WHERE s.status = 'Completed'
), expected AS (
    SELECT transaction_id, operation_index, posting.type, posting.wallet_id,
           (operation->>'amount')::numeric AS amount
    FROM operations
    CROSS JOIN LATERAL (VALUES
        ('Issue', operation->>'to', operation->>'type' = 'Issue'),
        ('Redeem', operation->>'from', operation->>'type' = 'Redeem'),
        ('Debit', operation->>'from', operation->>'type' = 'Transfer'),
        ('Credit', operation->>'to', operation->>'type' = 'Transfer')
    ) AS posting(type, wallet_id, applies)
    WHERE posting.applies
), actual AS (
    SELECT e.transaction_id, e.operation_index, e.type, e.wallet_id, e.amount
    FROM entries e JOIN scope s ON s.id = e.transaction_id
), missing AS (
    SELECT * FROM expected EXCEPT ALL SELECT * FROM actual
), extra AS (
    SELECT * FROM actual EXCEPT ALL SELECT * FROM expected
)
SELECT 'missing' AS kind, transaction_id, operation_index, type, wallet_id FROM missing
UNION ALL
SELECT 'extra', transaction_id, operation_index, type, wallet_id FROM extra
ORDER BY 2, 3
"""
ORPHANS = """
SELECT e.id, e.wallet_id, e.transaction_id,
       CASE WHEN w.id IS NULL THEN 'names no wallet'
            WHEN t.id IS NULL THEN 'names no transaction'
            ELSE 'crosses projects' END AS problem
FROM entries e
LEFT JOIN wallets w ON w.id = e.wallet_id
LEFT JOIN transactions t ON t.id = e.transaction_id
WHERE (w.id IS NULL OR t.id IS NULL OR w.project_id <> t.project_id)
  AND ($1::text IS NULL OR w.project_id = $1 OR t.project_id = $1)
"""
DUPLICATES = """
SELECT project_id, reference_id, count(*) AS copies FROM transactions
WHERE ($1::text IS NULL OR project_id = $1)
GROUP BY project_id, reference_id HAVING count(*) > 1
"""
BAD_ALIASES = """
SELECT a.id, CASE WHEN t.id IS NOT NULL THEN 'shadows a transaction id'
                  ELSE 'points to another project' END AS problem
FROM transaction_aliases a
LEFT JOIN transactions t ON t.id = a.id
JOIN transactions target ON target.id = a.transaction_id
WHERE ($1::text IS NULL OR a.project_id = $1)
  AND (t.id IS NOT NULL OR target.project_id <> a.project_id)
"""
RESOLVE = """
SELECT k.id, count(DISTINCT r.transaction_id) AS finals,
       min(t.reference_id) AS reference_id, min(t.status) AS status
FROM unnest($1::text[]) AS k(id)
LEFT JOIN (
    SELECT id, id AS transaction_id FROM transactions
    UNION ALL
    SELECT id, transaction_id FROM transaction_aliases
) r ON r.id = k.id
LEFT JOIN transactions t ON t.id = r.transaction_id
GROUP BY k.id
"""


@dataclass
class Report:
    """What `verify` found; `ok` when nothing."""

    violations: list[str] = field(default_factory=list)
    checked_accepted: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


async def verify(
    connection: Connection,
    project_id: str | None = None,
    accepted: list[tuple[str, str]] | None = None,
) -> Report:
    """Check the invariants of one project (or all); `accepted` is a client's log of
    (transaction id, reference ID) pairs answered 202."""
    report = Report()
    for row in await connection.fetch(NEGATIVE, project_id):
        report.violations.append(f"negative balance: wallet {row['id']}")
    for row in await connection.fetch(CONSERVATION, project_id):
        report.violations.append(
            f"conservation: asset {row['asset_id']} holds {row['total']} but issued - redeemed"
            f" is {row['net']}"
        )
    for row in await connection.fetch(CHAIN, project_id):
        report.violations.append(f"entry chain broken: wallet {row['wallet_id']} entry {row['id']}")
    for row in await connection.fetch(UNBALANCED, project_id):
        report.violations.append(f"unbalanced {row['status']} transaction {row['id']}")
    for row in await connection.fetch(POSTINGS, project_id):
        report.violations.append(
            f"{row['kind']} posting: transaction {row['transaction_id']} operation"
            f" {row['operation_index']} {row['type']} on wallet {row['wallet_id']}"
        )
    for row in await connection.fetch(ORPHANS, project_id):
        report.violations.append(
            f"entry {row['id']} {row['problem']}: wallet {row['wallet_id']}"
            f" transaction {row['transaction_id']}"
        )
    for row in await connection.fetch(DUPLICATES, project_id):
        report.violations.append(
            f"reference ID applied {row['copies']} times: project {row['project_id']}"
            f" referenceId {row['reference_id']!r}"
        )
    for row in await connection.fetch(BAD_ALIASES, project_id):
        report.violations.append(f"alias {row['id']} {row['problem']}")
    if accepted is not None:
        await _check_accepted(connection, accepted, report)
    return report


async def _check_accepted(
    connection: Connection, accepted: list[tuple[str, str]], report: Report
) -> None:
    references: dict[str, str] = {}
    for transaction_id, reference_id in accepted:
        if references.setdefault(transaction_id, reference_id) != reference_id:
            report.violations.append(
                f"accepted transaction {transaction_id} was logged with two reference IDs"
            )
    rows = await connection.fetch(RESOLVE, list(references))
    report.checked_accepted = len(rows)
    for row in rows:
        if row["finals"] == 0:
            report.violations.append(f"accepted transaction {row['id']} has no final status")
        elif row["finals"] > 1:
            report.violations.append(
                f"accepted transaction {row['id']} has {row['finals']} final statuses"
            )
        elif row["reference_id"] != references[row["id"]]:
            report.violations.append(
                f"accepted transaction {row['id']} resolved to another reference ID"
            )
        elif row["status"] == "Completed":
            report.completed += 1
        else:
            report.failed += 1


def read_accepted(path: Path) -> list[tuple[str, str]]:
    """A client log of accepted transactions: one JSON object per line with `id` and
    `referenceId` (the 202 body, as the gateway answered it). Blank lines are skipped."""
    accepted = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
                accepted.append((str(entry["id"]), str(entry["referenceId"])))
            except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{path}:{number}: expected a JSON object with id and referenceId ({error})"
                ) from None
    return accepted
