"""Database rows as the API shows them: each function builds the response model of its resource."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from gateway import responses
from shared.contract import messages


def asset_from_row(row: asyncpg.Record) -> responses.Asset:
    return responses.Asset(
        id=row["id"],
        name=row["name"],
        code=row["code"],
        fractions=row["fractions"],
        created_at=row["created_at"],
    )


def project_from_row(row: asyncpg.Record, assets: Sequence[asyncpg.Record]) -> responses.Project:
    return responses.Project(
        id=row["id"],
        name=row["name"],
        assets=[asset_from_row(asset) for asset in assets],
        created_at=row["created_at"],
    )


def customer_from_row(row: asyncpg.Record) -> responses.Customer:
    return responses.Customer(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        status=row["status"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def wallet_from_row(row: asyncpg.Record) -> responses.Wallet:
    balance, held = int(row["balance"]), int(row["held"])
    return responses.Wallet(
        id=row["id"],
        project_id=row["project_id"],
        asset_id=row["asset_id"],
        customer_id=row["customer_id"],
        type=row["type"],
        name=row["name"],
        description=row["description"],
        status=row["status"],
        balance=balance,
        held_balance=held,
        available_balance=balance - held,
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def balance_from_row(row: asyncpg.Record) -> responses.WalletBalance:
    """A wallet's balances at `row["at"]`: its last entry's by then (0 without one)."""
    balance, held = int(row["balance"] or 0), int(row["held"] or 0)
    return responses.WalletBalance(
        wallet_id=row["id"],
        at=row["at"],
        balance=balance,
        held_balance=held,
        available_balance=balance - held,
    )


def totals_from_row(row: asyncpg.Record) -> responses.AssetTotals:
    """An asset's totals; an asset without a row of totals yet has all zeros."""
    issued, redeemed = int(row["issued"] or 0), int(row["redeemed"] or 0)
    return responses.AssetTotals(
        asset_id=row["id"],
        issued=issued,
        redeemed=redeemed,
        outstanding=issued - redeemed,
        held=int(row["held"] or 0),
        wallet_count=row["wallet_count"] or 0,
    )


def entry_from_row(row: asyncpg.Record) -> responses.Entry:
    return responses.Entry(
        id=row["id"],
        wallet_id=row["wallet_id"],
        transaction_id=row["transaction_id"],
        operation_index=row["operation_index"],
        type=row["type"],
        amount=int(row["amount"]),
        balance_after=int(row["balance_after"]),
        held_after=int(row["held_after"]),
        counterparty_wallet_id=row["counterparty_wallet_id"],
        created_at=row["created_at"],
    )


def hold_from_row(row: asyncpg.Record) -> responses.Hold:
    """A stored hold as the API shows it: the body the `hold.<status>` events carry."""
    return responses.Hold.model_validate(messages.hold_from_row(row))


def transaction_from_state(body: dict[str, Any]) -> responses.Transaction:
    """A transaction as the status cache, the events and `transaction_from_row` write it."""
    return responses.Transaction.model_validate(body)


def page_items(rows: Sequence[Any], page_size: int) -> tuple[list[Any], bool]:
    """The page and whether there is more: the queries fetch one row more than the page."""
    return list(rows[:page_size]), len(rows) > page_size
