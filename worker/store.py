"""The worker's SQL: fence the partition, lock the touched wallets in id order and find the
reference IDs already taken, and save a batch plan with set-based statements. This is the one place
where balances change. Also the events outbox: what each batch still has to announce."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import orjson

from shared.contract.messages import TransactionMessage, hold_from_row, transaction_from_row
from shared.contract.partition import PARTITION_LOCK_SPACE
from shared.core import ledger, reversal
from shared.database import Connection
from worker.batch import (
    BatchPlan,
    KnownTransaction,
    LockedHold,
    LockedWallet,
    Reversible,
    TransactionKey,
    batch_keys,
    holds_wallet_ids,
    made_hold_ids,
    reversal_ids,
    reversal_wallet_ids,
)

WALLET_STATUSES = {status.value: status for status in ledger.WalletStatus}  # a dict beats Enum()
HOLD_STATUSES = {status.value: status for status in ledger.HoldStatus}

# One round trip for what planning a batch needs: the touched wallets, sorted then locked row by
# row in id order (the CTE runs as written, as a plain SELECT ... ORDER BY ... FOR UPDATE would),
# then the transactions that already hold the batch's reference IDs. The balance travels as
# text: decoding numeric into a Decimal, then an int, costs the worker three times as much
# (docs/decisions/0006-batch-rows-as-json.md).
LOAD_BATCH = """
WITH locked AS MATERIALIZED (
  SELECT id, project_id, asset_id, status, balance, held FROM wallets
  WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE
)
SELECT true AS is_wallet, id, project_id, asset_id, status, balance::text AS balance,
       held::text AS held, NULL::text AS reference_id, NULL::jsonb AS operations,
       NULL::jsonb AS failure, NULL::timestamptz AS created_at, NULL::timestamptz AS completed_at,
       NULL::jsonb AS metadata, NULL::text AS reversal_of, NULL::text AS reversed_by
FROM locked
UNION ALL
SELECT false, t.id, t.project_id, NULL, t.status, NULL, NULL, t.reference_id, t.operations,
       t.failure, t.created_at, t.completed_at, t.metadata, t.reversal_of, t.reversed_by
FROM transactions t
JOIN unnest($2::text[], $3::text[]) AS k(project_id, reference_id)
  ON t.project_id = k.project_id AND t.reference_id = k.reference_id
"""
# The holds a batch names (Capture, Void, Expire), read before LOAD_BATCH, which locks their
# wallets with the others. Only the partition's writer changes a hold, under the partition's
# lock, which the reading transaction holds: the rows need no lock of their own.
LOAD_HOLDS = """
SELECT id, project_id, wallet_id, to_wallet_id, amount::text AS amount,
       captured_amount::text AS captured_amount, status, transaction_id,
       resolved_by_transaction_id, expires_at, created_at, resolved_at
FROM holds WHERE id = ANY($1::text[]) AND project_id = ANY($2::text[])
"""
# The transactions a batch's reversals name, read before LOAD_BATCH, which locks the wallets
# their inverse touches with the others. A transaction's reversal is decided by the writer of
# its partition only, under the partition's lock.
LOAD_REVERSIBLE = """
SELECT * FROM transactions WHERE id = ANY($1::text[]) AND project_id = ANY($2::text[])
"""
# One statement, one round trip: the batch's transactions, the new balances, the entries, and its
# events outbox row, with the deletion of the rows whose events the broker confirmed. Each
# data-modifying CTE runs exactly once, whatever reads it. Entries get their ids in posting order
# (ORDER BY the position in the array), the order of each wallet's chain of balances. The rows
# travel as JSON, one document per table: orjson writes a batch's rows in a tenth of the CPU
# that asyncpg spends encoding them as arrays, one element at a time, while PostgreSQL parses
# the documents in little more time than it decodes the arrays
# (docs/decisions/0006-batch-rows-as-json.md).
# The documents are text parameters, whatever JSON codec the connection has; numbers travel as
# strings (amounts exceed 64 bits); the batch's one instant ($2) travels once. A wallet's
# balance and held balance change in one UPDATE (every wallet whose held balance moved is in
# the balances, at its balance), since its check compares the two; the holds a batch made are
# inserted as the batch leaves them, and the holds it resolved that it did not make updated.
# When a project of the batch has a live webhook endpoint, the same transactions are written to
# the webhooks' outbox too (one index probe per batch otherwise;
# docs/decisions/0022-webhooks.md).
SAVE_BATCH = """
WITH inserted AS (
  INSERT INTO transactions
    (id, project_id, reference_id, request_digest, status, operations, failure, created_at,
     completed_at, metadata, reversal_of, reversed_by)
  SELECT t->>0, t->>1, t->>2, decode(t->>3, 'hex'), t->>4, t->5, NULLIF(t->6, 'null'),
         (t->>7)::timestamptz, $2::timestamptz, NULLIF(t->8, 'null'), t->>9, t->>10
  FROM jsonb_array_elements($1::text::jsonb) AS t
), reversed AS (
  UPDATE transactions AS o SET reversed_by = r->>1
  FROM jsonb_array_elements($13::text::jsonb) AS r WHERE o.id = r->>0
), totals AS (
  INSERT INTO asset_totals AS a (asset_id, project_id, issued, redeemed, held)
  SELECT x->>0, x->>1, (x->>2)::numeric, (x->>3)::numeric, (x->>4)::numeric
  FROM jsonb_array_elements($12::text::jsonb) AS x
  ON CONFLICT (asset_id) DO UPDATE
  SET issued = a.issued + excluded.issued, redeemed = a.redeemed + excluded.redeemed,
      held = a.held + excluded.held
), balances AS (
  UPDATE wallets AS w
  SET balance = v.value::numeric, held = coalesce(h.value::numeric, w.held), updated_at = now()
  FROM jsonb_each_text($3::text::jsonb) AS v
  LEFT JOIN jsonb_each_text($9::text::jsonb) AS h ON h.key = v.key
  WHERE w.id = v.key
), posted AS (
  INSERT INTO entries
    (wallet_id, transaction_id, operation_index, type, amount, balance_after,
     counterparty_wallet_id, held_after, created_at)
  SELECT e->>0, e->>1, (e->>2)::integer, e->>3, (e->>4)::numeric, (e->>5)::numeric, e->>6,
         (e->>7)::numeric, $2::timestamptz
  FROM jsonb_array_elements($4::text::jsonb) WITH ORDINALITY AS x(e, position)
  ORDER BY position
), made AS (
  INSERT INTO holds
    (id, project_id, partition, wallet_id, to_wallet_id, amount, captured_amount, status,
     transaction_id, resolved_by_transaction_id, expires_at, created_at, resolved_at)
  SELECT h->>0, h->>1, $5, h->>2, h->>3, (h->>4)::numeric, (h->>5)::numeric, h->>6, h->>7,
         h->>8, (h->>9)::timestamptz, $2::timestamptz,
         CASE WHEN h->>6 = 'Pending' THEN NULL ELSE $2::timestamptz END
  FROM jsonb_array_elements($10::text::jsonb) AS h
), resolved AS (
  UPDATE holds AS o
  SET status = r->>1, captured_amount = (r->>2)::numeric, resolved_by_transaction_id = r->>3,
      resolved_at = $2::timestamptz
  FROM jsonb_array_elements($11::text::jsonb) AS r
  WHERE o.id = r->>0 AND o.status = 'Pending'
), forgotten AS (
  DELETE FROM event_outbox WHERE partition = $5 AND batch_id = ANY($7::text[])
), hooked AS (
  INSERT INTO webhook_outbox (partition, batch_id, transaction_ids)
  SELECT $5, $6, $8::text[] WHERE cardinality($8::text[]) > 0 AND EXISTS (
    SELECT 1 FROM webhook_endpoints WHERE project_id = ANY($14::text[]) AND deleted_at IS NULL
  )
)
INSERT INTO event_outbox (partition, batch_id, transaction_ids)
SELECT $5, $6, $8::text[] WHERE cardinality($8::text[]) > 0
"""
INSERT_ALIASES = """
INSERT INTO transaction_aliases (id, project_id, transaction_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (id) DO NOTHING
"""
HOLDS_BY_ID = "SELECT * FROM holds WHERE id = ANY($1::text[])"
FORGET_OUTBOX = "DELETE FROM event_outbox WHERE partition = $1 AND batch_id = ANY($2::text[])"
OUTBOX_LEFTOVERS = """
SELECT o.batch_id, t.* FROM (
  SELECT batch_id, transaction_ids FROM event_outbox
  WHERE partition = $1 AND NOT batch_id = ANY($2::text[])
  ORDER BY batch_id LIMIT $3
) o
CROSS JOIN LATERAL unnest(o.transaction_ids) WITH ORDINALITY AS u(id, position)
JOIN transactions t ON t.id = u.id
ORDER BY o.batch_id, u.position
"""


@contextlib.asynccontextmanager
async def partition_transaction(connection: Connection, partition: int) -> AsyncIterator[None]:
    """A transaction that holds the partition's transaction lock from its start, committed when
    the block ends and rolled back when it raises. The lock is the fence: two writers that both
    believe they own a partition never interleave batches. BEGIN and the lock travel as one
    simple query, one round trip where asyncpg's `transaction()` and a lock statement take two;
    the statements after it see what was committed before the lock was granted."""
    try:
        await connection.execute(
            f"BEGIN; SELECT pg_advisory_xact_lock({PARTITION_LOCK_SPACE:d}, {partition:d})"
        )
        yield
    except BaseException:
        if not connection.is_closed():
            await connection.execute("ROLLBACK")
        raise
    await connection.execute("COMMIT")


class Loaded(NamedTuple):
    """The inputs of `plan_batch` a batch's transaction reads."""

    known: dict[TransactionKey, KnownTransaction]
    wallets: dict[str, LockedWallet]
    holds: dict[str, LockedHold]
    reversible: dict[str, Reversible]


async def load_batch(connection: Connection, messages: list[TransactionMessage]) -> Loaded:
    """Lock every wallet the batch touches, in id order, and find the transactions that already
    hold its reference IDs: the inputs of `plan_batch`, in one round trip; a batch that names
    holds made before it reads them first, and locks their wallets with the others."""
    wallet_ids, hold_ids = batch_keys(messages)
    project_ids = [message.project_id for message in messages]
    holds: dict[str, LockedHold] = {}
    # The holds the batch itself makes are in no table yet, unless their Hold is a replay: they
    # are read after the reference IDs, and only then (a Capture right after its Hold in the
    # same batch costs no round trip). Their wallets are the Hold's, locked with the others.
    made = made_hold_ids(messages) if hold_ids else set()
    stored_ids = [hold_id for hold_id in hold_ids if hold_id not in made]
    if stored_ids:
        for row in await connection.fetch(LOAD_HOLDS, stored_ids, list(set(project_ids))):
            holds[row["id"]] = locked_hold(row)
        wallet_ids = holds_wallet_ids(wallet_ids, holds)
    reversible: dict[str, Reversible] = {}
    targets = reversal_ids(messages)
    if targets:
        for row in await connection.fetch(LOAD_REVERSIBLE, targets, list(set(project_ids))):
            body = transaction_from_row(row)
            target = reversal.Reversed(row["status"], body["operations"], row["reversed_by"])
            reversible[row["id"]] = Reversible(row["project_id"], target, body)
        wallet_ids = reversal_wallet_ids(wallet_ids, reversible)
    rows = await connection.fetch(
        LOAD_BATCH,
        wallet_ids,
        project_ids,
        [message.reference_id for message in messages],
    )
    known: dict[TransactionKey, KnownTransaction] = {}
    wallets: dict[str, LockedWallet] = {}
    for row in rows:
        if row["is_wallet"]:
            wallet = ledger.Wallet(
                row["id"],
                row["asset_id"],
                WALLET_STATUSES[row["status"]],
                int(row["balance"]),
                int(row["held"]),
            )
            wallets[row["id"]] = LockedWallet(row["project_id"], wallet)
        else:
            key = (row["project_id"], row["reference_id"])
            known[key] = KnownTransaction(row["id"], transaction_from_row(row))
    replayed_made = [hold_id for hold_id in hold_ids if hold_id in made] if known else []
    if replayed_made:
        for row in await connection.fetch(LOAD_HOLDS, replayed_made, list(set(project_ids))):
            holds[row["id"]] = locked_hold(row)
    return Loaded(known, wallets, holds, reversible)


def locked_hold(row: Any) -> LockedHold:
    """A stored hold row as `plan_batch` takes it."""
    hold = ledger.Hold(
        row["id"],
        row["wallet_id"],
        row["to_wallet_id"],
        int(row["amount"]),
        int(row["captured_amount"]),
        HOLD_STATUSES[row["status"]],
        row["expires_at"],
    )
    return LockedHold(
        row["project_id"],
        row["transaction_id"],
        row["created_at"],
        hold,
        row["resolved_by_transaction_id"],
        row["resolved_at"],
    )


async def save(
    connection: Connection,
    plan: BatchPlan,
    partition: int,
    outbox: tuple[str, list[str]],
    forget_batch_ids: list[str],
) -> None:
    """Write the plan in one statement: transactions, balances, entries and the events outbox
    row (`outbox`: the row's batch id and the transactions to announce; none when there are
    none) with the deletion of the earlier rows whose events are confirmed, and the webhooks'
    outbox row when one of its projects has a webhook endpoint; then the aliases, which refer
    to the transactions."""
    await connection.execute(
        SAVE_BATCH, *save_batch_arguments(plan, partition, outbox, forget_batch_ids)
    )
    if plan.aliases:
        await connection.execute(INSERT_ALIASES, *zip(*plan.aliases, strict=True))


def save_batch_arguments(
    plan: BatchPlan, partition: int, outbox: tuple[str, list[str]], forget_batch_ids: list[str]
) -> list[Any]:
    """SAVE_BATCH's arguments for a plan."""
    entries = [
        (wallet_id, transaction_id, index, kind, str(amount), str(balance_after), counterparty,
         str(held_after))
        for wallet_id, transaction_id, index, kind, amount, balance_after, counterparty, held_after
        in plan.entries
    ]  # fmt: skip
    balances = {wallet_id: str(balance) for wallet_id, balance in plan.balances.items()}
    held = {wallet_id: str(amount) for wallet_id, amount in plan.held.items()}
    made: list[tuple[Any, ...]] = []
    resolved: list[tuple[Any, ...]] = []
    for hold_id, locked in plan.holds.items():
        hold = locked.hold
        if hold_id in plan.made:
            made.append(
                (hold_id, locked.project_id, hold.wallet_id, hold.to_wallet_id, str(hold.amount),
                 str(hold.captured_amount), hold.status.value, locked.transaction_id,
                 locked.resolved_by, hold.expires_at)
            )  # fmt: skip
        else:
            resolved.append(
                (hold_id, hold.status.value, str(hold.captured_amount), locked.resolved_by)
            )
    transactions: list[Any] = plan.transactions
    reversed_before: list[tuple[str, str]] = []  # transactions of earlier batches reversed
    if plan.reversed:
        # A transaction of this batch that a reversal of this batch reversed is inserted so;
        # the statement's UPDATE does not see the rows its INSERT makes.
        inserted = {row[0] for row in transactions}
        transactions = [(*row, plan.reversed.get(row[0])) for row in transactions]
        reversed_before = [
            (original, by) for original, by in plan.reversed.items() if original not in inserted
        ]
    totals = [
        (asset_id, project_id, str(issued), str(redeemed), str(held))
        for asset_id, (project_id, issued, redeemed, held) in plan.totals.items()
    ]
    batch_id, announced = outbox
    projects = list({outcome.message.project_id for outcome in plan.outcomes if outcome.new})
    return [
        _json(transactions), plan.applied_at, _json(balances), _json(entries), partition,
        batch_id, forget_batch_ids, announced, _json(held), _json(made), _json(resolved),
        _json(totals), _json(reversed_before), projects,
    ]  # fmt: skip


def _json(value: Any) -> str:
    """A document for SAVE_BATCH: bytes (the request digests) as hex, and a time without a zone
    as UTC, which is how asyncpg encodes one for a timestamptz."""
    return orjson.dumps(value, default=_hex, option=orjson.OPT_NAIVE_UTC).decode()


def _hex(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} has no place in a saved batch")


async def forget_outbox(connection: Connection, partition: int, batch_ids: list[str]) -> None:
    await connection.execute(FORGET_OUTBOX, partition, batch_ids)


async def outbox_leftovers(
    connection: Connection, partition: int, skip_batch_ids: list[str], batches_max: int
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The oldest `batches_max` outbox rows of the partition (but those in `skip_batch_ids`),
    each with its transactions' project ids and final states as the API shows them, in order,
    each followed by the holds it made or resolved, as they are now."""
    leftovers: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    rows = await connection.fetch(OUTBOX_LEFTOVERS, partition, skip_batch_ids, batches_max)
    named: dict[str, list[str]] = {}  # transaction id -> the holds its operations name
    for row in rows:
        state = transaction_from_row(row)
        leftovers.setdefault(row["batch_id"], []).append((row["project_id"], state))
        if state["status"] == "Completed":
            hold_ids = [op["holdId"] for op in state["operations"] if "holdId" in op]
            if hold_ids:
                named[state["id"]] = hold_ids
    if not named:
        return leftovers
    holds = {
        row["id"]: hold_from_row(row)
        for row in await connection.fetch(
            HOLDS_BY_ID, [hold_id for hold_ids in named.values() for hold_id in hold_ids]
        )
    }
    for batch_id, states in leftovers.items():
        announced: list[tuple[str, dict[str, Any]]] = []
        for project_id, state in states:
            announced.append((project_id, state))
            for hold_id in named.get(state["id"], ()):
                if hold_id in holds:
                    announced.append((project_id, holds[hold_id]))
        leftovers[batch_id] = announced
    return leftovers
