"""The ledger checker behind `cloudwallet verify`: reads PostgreSQL and reports every broken
invariant of the design, for one project or all.

1. No wallet balance is negative, and no held balance is negative or above its balance
   (available never below 0).
2. Per asset: the sum of wallet balances equals issued minus redeemed.
3. Each wallet's entries chain: balanceAfter = previous balanceAfter +/- amount, and the last
   equals the wallet's balance; heldAfter likewise, moved only by Hold (+) and Release (-)
   entries, and the last equals the wallet's held balance.
4. Each Completed transaction's debits equal its credits and it has entries; a Failed one has
   none.
5. Each Completed transaction's entries are exactly its operations' postings, once: an Issue
   on its `to`, a Redeem on its `from`, a Debit and a Credit per Transfer, with its amount; a
   Hold on a Hold's `from`; a Release of the whole hold per Capture, Void or Expire, and for a
   Capture the Debit and Credit (or Redeem) of the captured amount. An operation applied twice
   is caught here (it keeps balances, chains and conservation whole).
6. One transaction per (project, referenceId) (the UNIQUE constraint, checked again), and an
   alias never shadows a transaction id nor crosses projects.
7. Every entry names an existing wallet and an existing transaction, of the same project (the
   database has no foreign keys on entries: the single writer is their only author).
10. Asset totals: each asset's issued and redeemed equal its Issue and Redeem entries, its
   held the sum of its wallets' held balances (so outstanding = issued - redeemed = the sum of
   its balances, by 2), and its wallet count its wallets.
11. Reversals: a transaction names as its reversal the one Completed reversal that names it,
   of its project, and is itself Completed.
9. Holds: each wallet's held balance is the sum of its Pending holds; each hold was made by
   exactly one Completed transaction's Hold and resolved by as many Captures, Voids and
   Expires as its status says (none while Pending, else one, of the kind its status names, by
   the transaction it names, capturing the amount it shows); its wallets are its project's.
12. Webhooks: no delivery is pending for a deleted endpoint, and every pending or logged
   delivery carries an event of its endpoint's own project (a transaction of it, or a hold of
   it in the status the event names).
8. Given a client log of accepted (id, referenceId) pairs: each has exactly one final status,
   the one of the transaction holding its reference ID."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from shared.contract.messages import Row
from shared.database import Connection

NEGATIVE = """
SELECT id, balance < 0 AS negative FROM wallets
WHERE ($1::text IS NULL OR project_id = $1) AND (balance < 0 OR held < 0 OR held > balance)
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
    SELECT e.wallet_id, e.id, e.balance_after, e.held_after,
           CASE WHEN e.type IN ('Issue', 'Credit') THEN e.amount
                WHEN e.type IN ('Redeem', 'Debit') THEN -e.amount ELSE 0 END AS delta,
           CASE e.type WHEN 'Hold' THEN e.amount WHEN 'Release' THEN -e.amount ELSE 0 END
             AS held_delta,
           lag(e.balance_after, 1, 0::numeric) OVER w AS previous,
           lag(e.held_after, 1, 0::numeric) OVER w AS previous_held,
           row_number() OVER (PARTITION BY e.wallet_id ORDER BY e.id DESC) AS from_last
    FROM entries e JOIN wallets wl ON wl.id = e.wallet_id
    WHERE ($1::text IS NULL OR wl.project_id = $1)
    WINDOW w AS (PARTITION BY e.wallet_id ORDER BY e.id)
)
SELECT wallet_id, id FROM chained
WHERE balance_after <> previous + delta OR held_after <> previous_held + held_delta
UNION ALL
SELECT c.wallet_id, c.id FROM chained c JOIN wallets w ON w.id = c.wallet_id
WHERE c.from_last = 1 AND (c.balance_after <> w.balance OR c.held_after <> w.held)
UNION ALL
SELECT w.id, NULL FROM wallets w
WHERE ($1::text IS NULL OR w.project_id = $1) AND (w.balance <> 0 OR w.held <> 0)
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
), resolving AS (
    SELECT o.*, o.operation->>'type' AS kind, h.wallet_id AS held_in, h.to_wallet_id AS held_for,
           h.amount AS held, coalesce((o.operation->>'amount')::numeric, h.amount) AS captured
    FROM operations o LEFT JOIN holds h ON h.id = o.operation->>'holdId'
    WHERE o.operation->>'type' IN ('Capture', 'Void', 'Expire')
), expected AS (
    SELECT transaction_id, operation_index, posting.type, posting.wallet_id,
           (operation->>'amount')::numeric AS amount
    FROM operations
    CROSS JOIN LATERAL (VALUES
        ('Issue', operation->>'to', operation->>'type' = 'Issue'),
        ('Redeem', operation->>'from', operation->>'type' = 'Redeem'),
        ('Debit', operation->>'from', operation->>'type' = 'Transfer'),
        ('Credit', operation->>'to', operation->>'type' = 'Transfer'),
        ('Hold', operation->>'from', operation->>'type' = 'Hold')
    ) AS posting(type, wallet_id, applies)
    WHERE posting.applies
    UNION ALL
    SELECT transaction_id, operation_index, posting.type, posting.wallet_id, posting.amount
    FROM resolving
    CROSS JOIN LATERAL (VALUES
        ('Release', held_in, held, true),
        ('Debit', held_in, captured, kind = 'Capture' AND held_for IS NOT NULL),
        ('Credit', held_for, captured, kind = 'Capture' AND held_for IS NOT NULL),
        ('Redeem', held_in, captured, kind = 'Capture' AND held_for IS NULL)
    ) AS posting(type, wallet_id, amount, applies)
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
HELD = """
SELECT w.id, w.held, coalesce(p.pending, 0) AS pending FROM wallets w
LEFT JOIN (
    SELECT wallet_id, sum(amount) AS pending FROM holds WHERE status = 'Pending' GROUP BY wallet_id
) p ON p.wallet_id = w.id
WHERE ($1::text IS NULL OR w.project_id = $1) AND w.held <> coalesce(p.pending, 0)
"""
HOLDS = """
WITH scope AS (
    SELECT * FROM holds WHERE ($1::text IS NULL OR project_id = $1)
), named AS (
    SELECT o.operation->>'holdId' AS hold_id, t.id AS transaction_id, t.project_id,
           o.operation->>'type' AS kind, (o.operation->>'amount')::numeric AS amount
    FROM transactions t
    CROSS JOIN LATERAL jsonb_array_elements(t.operations) AS o(operation)
    WHERE t.status = 'Completed' AND ($1::text IS NULL OR t.project_id = $1)
      AND o.operation ? 'holdId'
)
SELECT h.id, h.status, c.made, c.resolutions, c.resolution, c.resolver,
       h.resolved_by_transaction_id AS resolved_by, c.captured, h.captured_amount,
       (w.project_id IS DISTINCT FROM h.project_id
        OR (h.to_wallet_id IS NOT NULL AND tw.project_id IS DISTINCT FROM h.project_id))
         AS crosses_projects
FROM scope h
LEFT JOIN wallets w ON w.id = h.wallet_id
LEFT JOIN wallets tw ON tw.id = h.to_wallet_id
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE n.kind = 'Hold' AND n.transaction_id = h.transaction_id)
             AS made,
           count(*) FILTER (WHERE n.kind <> 'Hold') AS resolutions,
           min(n.kind) FILTER (WHERE n.kind <> 'Hold') AS resolution,
           min(n.transaction_id) FILTER (WHERE n.kind <> 'Hold') AS resolver,
           min(coalesce(n.amount, h.amount)) FILTER (WHERE n.kind = 'Capture') AS captured
    FROM named n WHERE n.hold_id = h.id AND n.project_id = h.project_id
) c
"""
RESOLUTIONS = {"Captured": "Capture", "Voided": "Void", "Expired": "Expire"}
TOTALS = """
WITH flows AS (
    SELECT wl.asset_id,
           coalesce(sum(e.amount) FILTER (WHERE e.type = 'Issue'), 0) AS issued,
           coalesce(sum(e.amount) FILTER (WHERE e.type = 'Redeem'), 0) AS redeemed
    FROM entries e JOIN wallets wl ON wl.id = e.wallet_id
    WHERE ($1::text IS NULL OR wl.project_id = $1) AND e.type IN ('Issue', 'Redeem')
    GROUP BY wl.asset_id
), held AS (
    SELECT asset_id, sum(held) AS held, count(*) AS wallets FROM wallets
    WHERE ($1::text IS NULL OR project_id = $1) GROUP BY asset_id
)
SELECT a.id, coalesce(t.issued, 0) AS issued, coalesce(f.issued, 0) AS issued_entries,
       coalesce(t.redeemed, 0) AS redeemed, coalesce(f.redeemed, 0) AS redeemed_entries,
       coalesce(t.held, 0) AS held, coalesce(h.held, 0) AS held_wallets,
       coalesce(t.wallet_count, 0) AS wallet_count, coalesce(h.wallets, 0) AS wallets
FROM assets a
LEFT JOIN asset_totals t ON t.asset_id = a.id
LEFT JOIN flows f ON f.asset_id = a.id
LEFT JOIN held h ON h.asset_id = a.id
WHERE ($1::text IS NULL OR a.project_id = $1)
  AND (coalesce(t.issued, 0) <> coalesce(f.issued, 0)
       OR coalesce(t.redeemed, 0) <> coalesce(f.redeemed, 0)
       OR coalesce(t.held, 0) <> coalesce(h.held, 0)
       OR coalesce(t.wallet_count, 0) <> coalesce(h.wallets, 0))
"""
REVERSALS = """
SELECT o.id, o.reversed_by, r.id AS reversal, r.status, r.reversal_of,
       r.project_id = o.project_id AS same_project
FROM transactions o
FULL JOIN (
    SELECT * FROM transactions WHERE reversal_of IS NOT NULL AND status = 'Completed'
) r ON r.reversal_of = o.id
WHERE ($1::text IS NULL OR o.project_id = $1 OR r.project_id = $1)
  AND (o.reversed_by IS NOT NULL OR r.id IS NOT NULL)
  AND (o.id IS NULL OR r.id IS NULL OR o.reversed_by IS DISTINCT FROM r.id
       OR o.status <> 'Completed' OR r.project_id <> o.project_id)
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
# Pending deliveries and logged attempts, each with its endpoint.
WEBHOOKS = """
WITH carried AS (
    SELECT endpoint_id, event_id, true AS pending FROM webhook_deliveries
    UNION ALL
    SELECT endpoint_id, event_id, false FROM webhook_attempts
)
SELECT c.endpoint_id, c.event_id,
       CASE WHEN c.pending AND e.deleted_at IS NOT NULL THEN 'is pending for a deleted endpoint'
            ELSE 'is not an event of the endpoint''s project' END AS problem
FROM carried c JOIN webhook_endpoints e ON e.id = c.endpoint_id
WHERE ($1::text IS NULL OR e.project_id = $1)
  AND ((c.pending AND e.deleted_at IS NOT NULL) OR NOT (
      EXISTS (SELECT 1 FROM transactions t WHERE t.id = c.event_id AND t.project_id = e.project_id)
      OR EXISTS (
          SELECT 1 FROM holds h
          WHERE h.id = split_part(c.event_id, '.', 1) AND h.project_id = e.project_id
            AND lower(h.status) = split_part(c.event_id, '.', 2)
      )))
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
        if row["negative"]:
            report.violations.append(f"negative balance: wallet {row['id']}")
        else:
            report.violations.append(f"held balance out of range: wallet {row['id']}")
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
    for row in await connection.fetch(HELD, project_id):
        report.violations.append(
            f"held balance: wallet {row['id']} holds {row['held']} but its Pending holds"
            f" {row['pending']}"
        )
    for row in await connection.fetch(HOLDS, project_id):
        for problem in _hold_problems(row):
            report.violations.append(f"hold {row['id']} {problem}")
    for row in await connection.fetch(TOTALS, project_id):
        report.violations.append(
            f"asset totals: asset {row['id']} shows issued {row['issued']}, redeemed"
            f" {row['redeemed']}, held {row['held']}; its entries issued"
            f" {row['issued_entries']}, redeemed {row['redeemed_entries']}, its wallets hold"
            f" {row['held_wallets']}; it counts {row['wallet_count']} wallets of"
            f" {row['wallets']}"
        )
    for row in await connection.fetch(REVERSALS, project_id):
        report.violations.append(
            f"reversal links: transaction {row['id']} names {row['reversed_by']} as its"
            f" reversal, and the Completed reversal {row['reversal']} names {row['reversal_of']}"
        )
    for row in await connection.fetch(WEBHOOKS, project_id):
        report.violations.append(
            f"webhook delivery of event {row['event_id']} to endpoint {row['endpoint_id']}"
            f" {row['problem']}"
        )
    if accepted is not None:
        await _check_accepted(connection, accepted, report)
    return report


def _hold_problems(row: Row) -> list[str]:
    """What is wrong with one hold, as the HOLDS query reads it."""
    problems = []
    if row["made"] != 1:
        problems.append(f"was made by {row['made']} Hold operations")
    status = row["status"]
    if row["resolutions"] != (status != "Pending"):
        problems.append(f"is {status} but was resolved {row['resolutions']} times")
    elif status != "Pending":
        if row["resolution"] != RESOLUTIONS[status]:
            problems.append(f"is {status} but was resolved by a {row['resolution']}")
        if row["resolver"] != row["resolved_by"]:
            problems.append(f"names {row['resolved_by']} as its resolution, not {row['resolver']}")
        if (row["captured"] or 0) != row["captured_amount"]:
            problems.append(f"shows {row['captured_amount']} captured, not {row['captured']}")
    if row["crosses_projects"]:
        problems.append("names a wallet of another project (or none)")
    return problems


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
