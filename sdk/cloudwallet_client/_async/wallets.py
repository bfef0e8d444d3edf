"""The asynchronous client's routes for wallets: opened, listed, renamed, their status and
metadata, their entries and balances in time. Generated into `_sync/wallets.py` by
`sdk/tools/unasync.py`: edit this one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from cloudwallet_client._async.transport import AsyncTransport, path
from cloudwallet_client._query import Moment, body, query
from cloudwallet_client.models import (
    Entry,
    Metadata,
    Page,
    Wallet,
    WalletBalance,
)

P = "/projects/{}"
W = P + "/wallets/{}"
WalletStatus = Literal["Open", "Suspended", "Closed"]
Order = Literal["desc", "asc"]


class AsyncWallets:
    """Customer and system wallets, their ledger entries and balances."""

    _transport: AsyncTransport

    async def open_wallet(
        self,
        project_id: str,
        customer_id: str,
        asset_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> Wallet:
        url = path(P + "/wallets", project_id)
        sent = body(
            customer_id=customer_id,
            asset_id=asset_id,
            name=name,
            description=description,
            metadata=metadata,
        )
        return await self._transport.model(Wallet, "POST", url, idempotent=False, json=sent)

    async def open_system_wallet(
        self,
        project_id: str,
        asset_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> Wallet:
        url = path(P + "/system-wallets", project_id)
        sent = body(asset_id=asset_id, name=name, description=description, metadata=metadata)
        return await self._transport.model(Wallet, "POST", url, idempotent=False, json=sent)

    async def list_system_wallets(
        self, project_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Wallet]:
        url, params = path(P + "/system-wallets", project_id), query(page=page, page_size=page_size)
        return await self._transport.model(Page[Wallet], "GET", url, idempotent=True, params=params)

    def iter_system_wallets(
        self, project_id: str, *, page_size: int | None = None
    ) -> AsyncIterator[Wallet]:
        url = path(P + "/system-wallets", project_id)
        return self._transport.items(Page[Wallet], url, query(page_size=page_size))

    async def list_wallets(
        self,
        project_id: str,
        *,
        asset_id: str | None = None,
        customer_id: str | None = None,
        type: Literal["customer", "system"] | None = None,
        status: WalletStatus | None = None,
        metadata: Metadata | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        cursor: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[Wallet]:
        """One page of the project's wallets, filtered; pass a page's `next_cursor` as `cursor`
        for the next one (or walk them all with `iter_wallets`)."""
        url = path(P + "/wallets", project_id)
        params = query(
            asset_id=asset_id,
            customer_id=customer_id,
            type=type,
            status=status,
            metadata=metadata,
            from_=from_,
            to=to,
            cursor=cursor,
            page=page,
            page_size=page_size,
        )
        return await self._transport.model(Page[Wallet], "GET", url, idempotent=True, params=params)

    def iter_wallets(
        self,
        project_id: str,
        *,
        asset_id: str | None = None,
        customer_id: str | None = None,
        type: Literal["customer", "system"] | None = None,
        status: WalletStatus | None = None,
        metadata: Metadata | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Wallet]:
        url = path(P + "/wallets", project_id)
        params = query(
            asset_id=asset_id,
            customer_id=customer_id,
            type=type,
            status=status,
            metadata=metadata,
            from_=from_,
            to=to,
            page_size=page_size,
        )
        return self._transport.items(Page[Wallet], url, params)

    async def get_wallet(self, project_id: str, wallet_id: str) -> Wallet:
        return await self._transport.model(
            Wallet, "GET", path(W, project_id, wallet_id), idempotent=True
        )

    async def rename_wallet(self, project_id: str, wallet_id: str, name: str) -> Wallet:
        url = path(W + "/name", project_id, wallet_id)
        return await self._transport.model(Wallet, "PUT", url, idempotent=True, json={"name": name})

    async def describe_wallet(self, project_id: str, wallet_id: str, description: str) -> Wallet:
        url, sent = path(W + "/description", project_id, wallet_id), {"description": description}
        return await self._transport.model(Wallet, "PUT", url, idempotent=True, json=sent)

    async def change_wallet_status(
        self, project_id: str, wallet_id: str, status: WalletStatus
    ) -> Wallet:
        """Open -> Suspended | Closed, Suspended -> Open | Closed; Closed is final (409
        InvalidStatusTransition), and only an empty wallet closes (409 WalletNotEmpty)."""
        url, sent = path(W + "/status", project_id, wallet_id), {"status": status}
        return await self._transport.model(Wallet, "PUT", url, idempotent=True, json=sent)

    async def replace_wallet_metadata(
        self, project_id: str, wallet_id: str, metadata: Metadata
    ) -> Wallet:
        url, sent = path(W + "/metadata", project_id, wallet_id), {"metadata": metadata}
        return await self._transport.model(Wallet, "PUT", url, idempotent=True, json=sent)

    async def list_entries(
        self,
        project_id: str,
        wallet_id: str,
        *,
        from_: Moment | None = None,
        to: Moment | None = None,
        order: Order | None = None,
        cursor: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[Entry]:
        """One page of the wallet's ledger entries, newest first unless order="asc"."""
        params = query(
            from_=from_, to=to, order=order, cursor=cursor, page=page, page_size=page_size
        )
        url = path(P + "/wallets/{}/entries", project_id, wallet_id)
        return await self._transport.model(Page[Entry], "GET", url, idempotent=True, params=params)

    def iter_entries(
        self,
        project_id: str,
        wallet_id: str,
        *,
        from_: Moment | None = None,
        to: Moment | None = None,
        order: Order | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Entry]:
        params = query(from_=from_, to=to, order=order, page_size=page_size)
        url = path(P + "/wallets/{}/entries", project_id, wallet_id)
        return self._transport.items(Page[Entry], url, params)

    async def get_wallet_balance(
        self, project_id: str, wallet_id: str, *, at: Moment | None = None
    ) -> WalletBalance:
        """The wallet's balances as of `at` (epoch ms or an aware datetime; now without it):
        after every entry made at or before it."""
        url = path(P + "/wallets/{}/balance", project_id, wallet_id)
        return await self._transport.model(
            WalletBalance, "GET", url, idempotent=True, params=query(at=at)
        )
