"""The ledger core's test helpers: operations written as calls, and the sums the properties
compare (what a set of wallets holds by asset, and what postings issued net of redeems)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

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
