"""Database rows as the API shows them."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.messages import format_time


def asset_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "code": row["code"],
        "fractions": row["fractions"],
        "createdAt": format_time(row["created_at"]),
    }


def project_view(row: asyncpg.Record, assets: list[asyncpg.Record]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "assets": [asset_view(asset) for asset in assets],
        "createdAt": format_time(row["created_at"]),
    }


def customer_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "createdAt": format_time(row["created_at"]),
        "updatedAt": format_time(row["updated_at"]),
    }


def wallet_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "projectId": row["project_id"],
        "assetId": row["asset_id"],
        "customerId": row["customer_id"],
        "type": row["type"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "balance": str(int(row["balance"])),
        "createdAt": format_time(row["created_at"]),
        "updatedAt": format_time(row["updated_at"]),
    }


def page_view(items: list[dict[str, Any]], page: int, page_size: int) -> dict[str, Any]:
    """A page of a list; the query fetched one row more than the page to tell `hasMore`."""
    return {
        "items": items[:page_size],
        "page": page,
        "pageSize": page_size,
        "hasMore": len(items) > page_size,
    }
