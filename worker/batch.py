"""Plan a batch: the queue-ordered transactions of one partition, applied one after another to
the wallets they touch, with nothing but the ledger core. Pure: the store loads the inputs and
saves the plan inside one database transaction.

Each transaction is all or nothing on its own; a failing one never fails its neighbours. A
reference ID already taken (in the database or earlier in the batch) makes the message a replay
of the same transaction, or an alias of the one holding the reference ID: never a second apply.

A batch may also be planned ahead (`guess`), while the previous batch is still being written,
from what the writer last saw of the wallets (`WalletCache`); such a plan is used only if the
wallets, once locked, are exactly those it was made from and no reference ID is taken, so that
it is the plan those inputs give."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from shared.contract import messages
from shared.contract.messages import (
    TransactionMessage,
    hold_body,
    is_expiry,
    operations_json,
    request_digest,
    to_core,
    transaction_body,
    with_hold_ids,
)
from shared.core import ledger, reversal
from shared.errors import invariant

TransactionKey = tuple[str, str]  # (project id, reference id)


class KnownTransaction(NamedTuple):
    """A transaction already holding a reference ID, with its body as the API shows it."""

    id: str
    body: dict[str, Any]


class LockedWallet(NamedTuple):
    project_id: str
    wallet: ledger.Wallet


class LockedHold(NamedTuple):
    """A hold as the core sees it, with what the API shows of it beyond: its project, the
    transaction that made it and when, and the transaction that resolved it (None while
    Pending)."""

    project_id: str
    transaction_id: str
    created_at: datetime
    hold: ledger.Hold
    resolved_by: str | None = None
    resolved_at: datetime | None = None


NO_LOCKED_HOLDS: Mapping[str, LockedHold] = MappingProxyType({})


class Reversible(NamedTuple):
    """A transaction a reversal names: its project, what the core needs of it, and its state
    as the API shows it."""

    project_id: str
    target: reversal.Reversed
    body: dict[str, Any]


NO_REVERSIBLE: Mapping[str, Reversible] = MappingProxyType({})


class Outcome(NamedTuple):
    """What one message resolved to: the transaction state to cache, announce and reply with,
    and the holds it made or resolved, as the API shows them, to announce. An expiry that did
    not apply is not `recorded` (docs/decisions/0017-holds-storage-and-expiry.md): it leaves no
    trace, and the expiry scanner tries again."""

    message: TransactionMessage
    body: dict[str, Any]
    new: bool
    holds: tuple[dict[str, Any], ...] = ()
    recorded: bool = True


@dataclass(slots=True)
class BatchPlan:
    """What a batch writes. `applied_at` is the completion time of all of its transactions and
    the posting time of all of its entries, which their rows therefore leave out."""

    applied_at: datetime
    transactions: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    # The final balance of every wallet whose balance or held balance moved, and the final held
    # balance of those whose held balance moved.
    balances: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    # Every hold the batch made or resolved, as it leaves them; those it made.
    holds: dict[str, LockedHold] = field(default_factory=dict)
    made: set[str] = field(default_factory=set)
    aliases: list[tuple[str, str, str]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    # Per asset: its project and what the batch issued, redeemed and held (a release is a
    # negative held change).
    totals: dict[str, list[Any]] = field(default_factory=dict)
    # The transactions the batch reversed, and the reversal of each; their states as the API
    # now shows them (project id, transaction id, body), to cache.
    reversed: dict[str, str] = field(default_factory=dict)
    restated: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Guess:
    """`messages` planned ahead, from `wallets` and `named` (the holds they name), with no
    reference ID taken."""

    messages: list[TransactionMessage]
    wallets: dict[str, LockedWallet]
    named: dict[str, LockedHold]
    plan: BatchPlan

    def holds(
        self,
        messages: list[TransactionMessage],
        known: Mapping[TransactionKey, KnownTransaction],
        wallets: Mapping[str, LockedWallet],
        named: Mapping[str, LockedHold] = NO_LOCKED_HOLDS,
    ) -> bool:
        """Whether the plan is the one these inputs give: `plan_batch` depends on nothing else
        (but the instant, which is the batch's whichever it is)."""
        return (
            not known
            and self.wallets == wallets
            and self.named == named
            and self.messages == messages
        )


class WalletCache:
    """What the writer last saw of the wallets and holds it touched, as its latest plan left
    them (whether or not that plan committed): hints for planning ahead, never trusted. It
    holds at most `entries_max` wallets and as many holds; when a batch's would not fit, it
    starts over."""

    def __init__(self, entries_max: int) -> None:
        self._entries_max = entries_max
        self._wallets: dict[str, LockedWallet] = {}
        self._holds: dict[str, LockedHold] = {}

    def __len__(self) -> int:
        return len(self._wallets)

    def remember(
        self,
        wallets: Mapping[str, LockedWallet],
        balances: Mapping[str, int],
        held: Mapping[str, int] = ledger.NO_HELD,
        holds: Mapping[str, LockedHold] = NO_LOCKED_HOLDS,
    ) -> None:
        """Keep `wallets` as locked, at the balances `balances` gives the ones a plan changed
        and the held balances `held` gives (every wallet in `held` is in `balances`), and
        `holds` as the plan left them."""
        if holds:
            if len(self._holds) + len(holds) > self._entries_max:
                self._holds.clear()
            if len(holds) <= self._entries_max:
                self._holds.update(holds)
        if len(self._wallets) + len(wallets) > self._entries_max:
            self._wallets.clear()
            if len(wallets) > self._entries_max:
                return
        self._wallets.update(wallets)
        for wallet_id, balance in balances.items():
            locked = wallets[wallet_id]
            wallet = locked.wallet
            changed = ledger.Wallet(
                wallet.id, wallet.asset_id, wallet.status, balance, held.get(wallet_id, wallet.held)
            )
            self._wallets[wallet_id] = LockedWallet(locked.project_id, changed)

    def holds_of(self, hold_ids: list[str]) -> dict[str, LockedHold] | None:
        """The holds a batch names as last seen, or None if any is not known."""
        found: dict[str, LockedHold] = {}
        for hold_id in hold_ids:
            locked = self._holds.get(hold_id)
            if locked is None:
                return None
            found[hold_id] = locked
        return found

    def inputs(self, wallet_ids: list[str]) -> dict[str, LockedWallet] | None:
        """The wallets of a batch as last seen, or None if any is not known."""
        wallets = self._wallets
        found: dict[str, LockedWallet] = {}
        for wallet_id in wallet_ids:
            locked = wallets.get(wallet_id)
            if locked is None:
                return None
            found[wallet_id] = locked
        return found


def guess(messages: list[TransactionMessage], cache: WalletCache, now: datetime) -> Guess | None:
    """Plan a batch ahead from what `cache` knows of its wallets and of the holds it names
    (with their wallets), as if no reference ID were taken; None if it does not know them all,
    or if the batch reverses transactions (the cache knows no transactions)."""
    wallet_ids, hold_ids = batch_keys(messages)
    if reversal_ids(messages):
        return None
    named: dict[str, LockedHold] = {}
    if hold_ids:
        # A hold the batch itself makes is not read (it is in no table yet): a Capture or Void
        # right after its Hold plans ahead too. Should it be a replay's, whose hold is stored,
        # the reference ID is taken and the guess is not used.
        made = made_hold_ids(messages)
        found = cache.holds_of([wanted for wanted in hold_ids if wanted not in made])
        if found is None:
            return None
        named = found
        wallet_ids = holds_wallet_ids(wallet_ids, named)
    wallets = cache.inputs(wallet_ids)
    if wallets is None:
        return None
    return Guess(messages, wallets, named, plan_batch(messages, {}, wallets, now, named))


def made_hold_ids(batch: list[TransactionMessage]) -> set[str]:
    """The ids of the holds the Hold operations of `batch` would make."""
    return {
        messages.hold_id(message.id, index)
        for message in batch
        for index, operation in enumerate(message.operations)
        if operation.type == "Hold"
    }


def holds_wallet_ids(wallet_ids: list[str], holds: Mapping[str, LockedHold]) -> list[str]:
    """`wallet_ids` with the wallets of `holds`, sorted: the wallets a batch locks."""
    named = set(wallet_ids)
    for locked in holds.values():
        named.add(locked.hold.wallet_id)
        if locked.hold.to_wallet_id is not None:
            named.add(locked.hold.to_wallet_id)
    return sorted(named)


def batch_keys(messages: list[TransactionMessage]) -> tuple[list[str], list[str]]:
    """Every wallet a batch's operations name, sorted (the order in which they are locked),
    and every hold they name (Capture, Void, Expire), in order. The wallets of the holds named
    are not among the first: the store reads them with the holds."""
    found: set[Any] = set()  # ids, and None for the side an operation has not
    add = found.add  # one plain loop: half the time of a generator per operation
    hold_ids: list[str] = []
    for message in messages:
        for operation in message.operations:
            # A model's fields are its instance dictionary: reading a field a model has not
            # there costs a dict lookup, where getattr with a default goes through pydantic's
            # __getattr__ and an AttributeError (8% of the worker's time in the holds drain).
            fields = vars(operation)
            add(fields.get("from_wallet_id"))
            add(fields.get("to_wallet_id"))
            named = fields.get("hold_id")
            if named is not None:
                hold_ids.append(named)
    found.discard(None)
    return sorted(found), hold_ids


def reversal_ids(messages: list[TransactionMessage]) -> list[str]:
    """The transactions a batch's reversals name."""
    return [message.reversal_of for message in messages if message.reversal_of is not None]


def reversal_wallet_ids(wallet_ids: list[str], targets: Mapping[str, Reversible]) -> list[str]:
    """`wallet_ids` with the wallets the reversals of `targets` would touch, sorted."""
    named = set(wallet_ids)
    for reversible in targets.values():
        for operation in reversible.target.operations:
            named.update(
                wallet_id
                for wallet_id in (operation.get("from"), operation.get("to"))
                if wallet_id is not None
            )
    return sorted(named)


def wallet_ids(messages: list[TransactionMessage]) -> list[str]:
    """Every wallet a batch's operations name, sorted."""
    return batch_keys(messages)[0]


def plan_batch(
    messages: list[TransactionMessage],
    known: Mapping[TransactionKey, KnownTransaction],
    wallets: Mapping[str, LockedWallet],
    now: datetime,
    holds: Mapping[str, LockedHold] = NO_LOCKED_HOLDS,
    reversible: Mapping[str, Reversible] = NO_REVERSIBLE,
) -> BatchPlan:
    """Apply `messages` in order to `wallets` and `holds` (the holds they name, with their
    wallets among `wallets`); `known` holds the reference IDs already taken, and `reversible`
    the transactions before the batch that its reversals name (their wallets among
    `wallets`)."""
    plan = BatchPlan(now)
    taken = dict(known)
    current = {wallet_id: locked.wallet for wallet_id, locked in wallets.items()}
    owners = {wallet_id: locked.project_id for wallet_id, locked in wallets.items()}
    current_holds = dict(holds)
    # The transactions a reversal may name, as the batch leaves them: kept only in a batch that
    # has reversals.
    transactions = dict(reversible) if reversal_ids(messages) else None
    for message in messages:
        key = (message.project_id, message.reference_id)
        holder = taken.get(key)
        if holder is not None:
            if holder.id != message.id:
                plan.aliases.append((message.id, message.project_id, holder.id))
            plan.outcomes.append(Outcome(message, holder.body, new=False))
            continue
        outcome = _apply_one(plan, current, owners, current_holds, transactions, message, now)
        if outcome.recorded:
            taken[key] = KnownTransaction(message.id, outcome.body)
            if transactions is not None:
                target = reversal.Reversed(outcome.body["status"], outcome.body["operations"], None)
                transactions[message.id] = Reversible(message.project_id, target, outcome.body)
        plan.outcomes.append(outcome)
    return plan


def _reversal(
    transactions: dict[str, Reversible] | None, message: TransactionMessage
) -> list[ledger.AnyOperation] | reversal.Refusal:
    """The operations of a reversal, or why there are none."""
    original_id = message.reversal_of
    invariant(original_id is not None and transactions is not None, "not a reversal")
    assert original_id is not None and transactions is not None  # for the type checker
    found = transactions.get(original_id)
    visible = found is not None and found.project_id == message.project_id
    undone = reversal.inverse(original_id, found.target if found and visible else None)
    if isinstance(undone, reversal.Refusal):
        return undone
    operations: list[ledger.AnyOperation] = list(undone)
    return operations


def _reversed(
    plan: BatchPlan, transactions: dict[str, Reversible] | None, message: TransactionMessage
) -> None:
    """Record that `message`, a Completed reversal, reversed the transaction it names."""
    assert transactions is not None and message.reversal_of is not None
    found = transactions[message.reversal_of]
    body = {**found.body, "reversedBy": message.id}
    transactions[message.reversal_of] = Reversible(
        found.project_id, found.target._replace(reversed_by=message.id), body
    )
    plan.reversed[message.reversal_of] = message.id
    plan.restated.append((message.project_id, message.reversal_of, body))


def _apply_one(
    plan: BatchPlan,
    current: dict[str, ledger.Wallet],
    owners: Mapping[str, str],
    current_holds: dict[str, LockedHold],
    transactions: dict[str, Reversible] | None,
    message: TransactionMessage,
    now: datetime,
) -> Outcome:
    """Apply one message to the batch's current wallets and holds: all of it, or none of it."""
    refusal = None
    if message.reversal_of is None:
        operations_core = to_core(message.operations, message.id)
    else:
        reversing = _reversal(transactions, message)
        if isinstance(reversing, reversal.Refusal):
            refusal, operations_core = reversing, []
        else:
            operations_core = reversing
    project_id = message.project_id
    failure = None
    hold_bodies: tuple[dict[str, Any], ...] = ()
    if refusal is not None:  # nothing to apply
        failure = {"operationIndex": 0, "code": str(refusal.code), "message": refusal.message}
    else:
        visible, visible_holds = _visible(
            current, owners, current_holds, project_id, operations_core
        )
        result = ledger.apply(visible, operations_core, visible_holds, now)
        if isinstance(result, ledger.Failure):
            if is_expiry(message):
                # Not due yet by this writer's clock, or resolved meanwhile: nothing to record.
                failed = {"id": message.id, "referenceId": message.reference_id, "status": "Failed"}
                return Outcome(message, failed, new=False, recorded=False)
            failure = {
                "operationIndex": result.operation_index,
                "code": str(result.code),
                "message": result.message,
            }
        else:
            _check_balanced(result)
            hold_bodies = _post(plan, current, current_holds, project_id, message.id, result)
            if message.reversal_of is not None:
                _reversed(plan, transactions, message)
    operations = operations_json(message.operations)
    digest = request_digest(operations, message.metadata, message.reversal_of)
    status = "Failed" if failure else "Completed"
    if message.reversal_of is not None:
        operations = [reversal.operation_json(op) for op in operations_core]  # type: ignore[arg-type]
    elif failure is None:
        operations = with_hold_ids(operations, message.id)
    plan.transactions.append(
        (
            message.id,
            project_id,
            message.reference_id,
            digest,
            status,
            operations,
            failure,
            message.submitted_at,
            message.metadata,
            message.reversal_of,
        )
    )
    body = transaction_body(
        transaction_id=message.id,
        reference_id=message.reference_id,
        status=status,
        operations=operations,
        created_at=message.submitted_at,
        completed_at=now,
        failure=failure,
        metadata=message.metadata,
        reversal_of=message.reversal_of,
    )
    return Outcome(message, body, new=True, holds=hold_bodies)


def _record_holds(
    plan: BatchPlan,
    current_holds: dict[str, LockedHold],
    project_id: str,
    transaction_id: str,
    result: ledger.Applied,
) -> tuple[dict[str, Any], ...]:
    """Keep the holds a transaction made or resolved, for the batch's next transactions and
    for saving; their states as the API shows them, for its events."""
    now = plan.applied_at
    bodies = []
    for hold_id, hold in result.holds.items():
        before = current_holds.get(hold_id)
        # Tuples built whole: NamedTuple._replace costs three times as much, per hold.
        resolved = hold.status is not ledger.HoldStatus.PENDING
        resolved_by = transaction_id if resolved else None
        resolved_at = now if resolved else None
        if before is None:
            plan.made.add(hold_id)
            locked = LockedHold(project_id, transaction_id, now, hold, resolved_by, resolved_at)
        else:
            if not resolved:
                resolved_by, resolved_at = before.resolved_by, before.resolved_at
            locked = LockedHold(
                before.project_id,
                before.transaction_id,
                before.created_at,
                hold,
                resolved_by,
                resolved_at,
            )
        current_holds[hold_id] = plan.holds[hold_id] = locked
        bodies.append(hold_body_of(locked))
    return tuple(bodies)


def hold_body_of(locked: LockedHold) -> dict[str, Any]:
    """A hold as the API shows it."""
    hold = locked.hold
    return hold_body(
        hold_id=hold.id,
        project_id=locked.project_id,
        wallet_id=hold.wallet_id,
        to_wallet_id=hold.to_wallet_id,
        amount=hold.amount,
        captured_amount=hold.captured_amount,
        status=str(hold.status),
        transaction_id=locked.transaction_id,
        resolved_by_transaction_id=locked.resolved_by,
        expires_at=hold.expires_at,
        created_at=locked.created_at,
        resolved_at=locked.resolved_at,
    )


# Module constants: an enum member read through its class is an attribute lookup per use, on the
# writer's path of every entry.
_DEBIT, _CREDIT, _RELEASE = (
    ledger.EntryType.DEBIT,
    ledger.EntryType.CREDIT,
    ledger.EntryType.RELEASE,
)
# The column of plan.totals each kind of posting that changes a total adds to.
_TOTAL_COLUMNS = {
    ledger.EntryType.ISSUE: 1,
    ledger.EntryType.REDEEM: 2,
    ledger.EntryType.HOLD: 3,
    ledger.EntryType.RELEASE: 3,
}


def _visible(
    current: Mapping[str, ledger.Wallet],
    owners: Mapping[str, str],
    current_holds: Mapping[str, LockedHold],
    project_id: str,
    operations: list[ledger.AnyOperation],
) -> tuple[dict[str, ledger.Wallet], dict[str, ledger.Hold]]:
    """The wallets and holds of the project the operations name, as the batch left them: what
    the core is given (another project's are not found)."""
    visible = {}
    visible_holds: dict[str, ledger.Hold] = {}
    for operation in operations:
        if type(operation) is ledger.Operation:
            _, _, source, target = operation
        elif type(operation) is ledger.HoldOperation:
            source, target = operation.from_wallet_id, operation.to_wallet_id
        else:  # names a hold: its wallets are the hold's, if the hold is the project's
            named = current_holds.get(operation.hold_id)  # type: ignore[union-attr]
            if named is None or named.project_id != project_id:
                continue
            visible_holds[named.hold.id] = named.hold
            source, target = named.hold.wallet_id, named.hold.to_wallet_id
        if source is not None and owners.get(source) == project_id:
            visible[source] = current[source]
        if target is not None and owners.get(target) == project_id:
            visible[target] = current[target]
    return visible, visible_holds


def _post(
    plan: BatchPlan,
    current: dict[str, ledger.Wallet],
    current_holds: dict[str, LockedHold],
    project_id: str,
    transaction_id: str,
    result: ledger.Applied,
) -> tuple[dict[str, Any], ...]:
    """Take a transaction's result into the plan and the batch's current wallets and holds:
    balances, held balances, holds, entries and asset totals. Returns the holds it made or
    resolved, as the API shows them."""
    balances = plan.balances
    for wallet_id, balance in result.balances.items():
        wallet = current[wallet_id]
        current[wallet_id] = ledger.Wallet(
            wallet.id, wallet.asset_id, wallet.status, balance, wallet.held
        )
        balances[wallet_id] = balance
    if result.held:
        for wallet_id, held in result.held.items():
            wallet = current[wallet_id]
            wallet = current[wallet_id] = ledger.Wallet(
                wallet.id, wallet.asset_id, wallet.status, wallet.balance, held
            )
            plan.held[wallet_id] = held
            balances[wallet_id] = wallet.balance
    hold_bodies: tuple[dict[str, Any], ...] = ()
    if result.holds:
        hold_bodies = _record_holds(plan, current_holds, project_id, transaction_id, result)
    append = plan.entries.append
    totals = plan.totals
    for (wallet_id, index, kind, amount, balance_after, counterparty), held_after in zip(
        result.postings, result.held_after, strict=True
    ):
        # The kind itself, a str: its `.value` is a descriptor call per entry.
        append(
            (
                wallet_id,
                transaction_id,
                index,
                kind,
                amount,
                balance_after,
                counterparty,
                held_after,
            )
        )
        if kind is not _DEBIT and kind is not _CREDIT:
            asset_id = current[wallet_id].asset_id
            total = totals.get(asset_id)
            if total is None:
                total = totals[asset_id] = [project_id, 0, 0, 0]
            total[_TOTAL_COLUMNS[kind]] += -amount if kind is _RELEASE else amount
    return hold_bodies


def _check_balanced(result: ledger.Applied) -> None:
    # One plain loop: the generator expressions it replaced were 5% of the worker's time.
    net = 0  # debits minus credits
    for _, _, kind, amount, _, _ in result.postings:
        if kind is _DEBIT:
            net += amount
        elif kind is _CREDIT:
            net -= amount
    invariant(net == 0, "a transaction's debits must equal its credits")
    invariant(min(result.balances.values(), default=0) >= 0, "negative balance")
