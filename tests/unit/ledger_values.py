"""The ledger core's test helpers: operations written as calls, the sums the properties
compare (what a set of wallets holds by asset, and what postings issued net of redeems), and
queue messages as a writer receives them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.contract.messages import TransactionMessage
from shared.core.ledger import EntryType, Operation, OperationType, Posting, Wallet


def transfer(source: str, target: str, amount: int) -> Operation:
    return Operation(OperationType.TRANSFER, amount, source, target)


def issue(target: str, amount: int) -> Operation:
    return Operation(OperationType.ISSUE, amount, None, target)


def redeem(source: str, amount: int) -> Operation:
    return Operation(OperationType.REDEEM, amount, source, None)


def totals_by_asset(
    wallets: Mapping[str, Wallet], balances: Mapping[str, int] | None = None
) -> dict[str, int]:
    """The balances of `wallets` summed by asset, with `balances` in place of theirs."""
    totals: dict[str, int] = defaultdict(int)
    for wallet in wallets.values():
        totals[wallet.asset_id] += (balances or {}).get(wallet.id, wallet.balance)
    return dict(totals)


def net_issued(wallets: Mapping[str, Wallet], postings: Iterable[Posting]) -> dict[str, int]:
    """What `postings` issued less what they redeemed, by asset."""
    issued: dict[str, int] = defaultdict(int)
    for posting in postings:
        asset = wallets[posting.wallet_id].asset_id
        if posting.type is EntryType.ISSUE:
            issued[asset] += posting.amount
        elif posting.type is EntryType.REDEEM:
            issued[asset] -= posting.amount
    return issued


SUBMITTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def message(
    transaction_id: str, reference_id: str, *operations: dict[str, Any], project_id: str = "p1"
) -> TransactionMessage:
    """A queue message of `operations`, submitted at SUBMITTED_AT."""
    return TransactionMessage.model_validate(
        {
            "id": transaction_id,
            "projectId": project_id,
            "referenceId": reference_id,
            "operations": list(operations),
            "submittedAt": SUBMITTED_AT.isoformat(),
        }
    )
