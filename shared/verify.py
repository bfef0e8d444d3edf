"""The ledger checker behind `cloudwallet verify`: reads PostgreSQL and reports every broken
invariant of the design, for one project or all.

1. No wallet balance is negative.
2. Per asset: the sum of wallet balances equals issued minus redeemed.
3. Each wallet's entries chain: balanceAfter = previous balanceAfter +/- amount, and the last
   equals the wallet's balance.
4. Each Completed transaction's debits equal its credits and it has entries; a Failed one has
   none.
5. Given a client log of accepted (id, referenceId) pairs: each has exactly one final status,
   and no reference ID was applied twice (the UNIQUE constraint, checked again)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
RESOLVE = """
SELECT k.id, coalesce(t.id, a.transaction_id) AS resolved, t2.reference_id, t2.status
FROM unnest($1::text[]) AS k(id)
LEFT JOIN transactions t ON t.id = k.id
LEFT JOIN transaction_aliases a ON a.id = k.id
LEFT JOIN transactions t2 ON t2.id = coalesce(t.id, a.transaction_id)
"""


@dataclass
class Report:
    """What `verify` found; `ok` when nothing."""

    violations: list[str] = field(default_factory=list)
    checked_accepted: int = 0

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
    if accepted is not None:
        await _check_accepted(connection, accepted, report)
    return report


async def _check_accepted(
    connection: Connection, accepted: list[tuple[str, str]], report: Report
) -> None:
    references = dict(accepted)
    rows = await connection.fetch(RESOLVE, list(references))
    report.checked_accepted = len(rows)
    for row in rows:
        if row["resolved"] is None:
            report.violations.append(f"accepted transaction {row['id']} has no final status")
        elif row["reference_id"] != references[row["id"]]:
            report.violations.append(
                f"accepted transaction {row['id']} resolved to another reference ID"
            )
