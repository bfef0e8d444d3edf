"""The asynchronous client's routes for customers. Generated into `_sync/customers.py` by
`sdk/tools/unasync.py`: edit this one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from cloudwallet_client._async.transport import AsyncTransport, path
from cloudwallet_client._query import Moment, body, query
from cloudwallet_client.models import (
    Customer,
    Metadata,
    Page,
    Wallet,
)

P = "/projects/{}"
C = P + "/customers/{}"
CustomerStatus = Literal["Active", "Suspended"]


class AsyncCustomers:
    """A project's customers: upserted, listed, suspended and resumed, deleted."""

    _transport: AsyncTransport

    async def upsert_customer(
        self,
        project_id: str,
        customer_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> Customer:
        """Create the customer, or update the fields given (POST .../customers)."""
        url = path(P + "/customers", project_id)
        sent = body(id=customer_id, name=name, description=description, metadata=metadata)
        return await self._transport.model(Customer, "POST", url, idempotent=True, json=sent)

    async def put_customer(
        self,
        project_id: str,
        customer_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> Customer:
        """The same upsert by the customer's path (PUT .../customers/{customerId})."""
        url = path(C, project_id, customer_id)
        sent = body(name=name, description=description, metadata=metadata)
        return await self._transport.model(Customer, "PUT", url, idempotent=True, json=sent)

    async def list_customers(
        self,
        project_id: str,
        *,
        status: CustomerStatus | None = None,
        metadata: Metadata | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[Customer]:
        url = path(P + "/customers", project_id)
        params = query(
            status=status, metadata=metadata, from_=from_, to=to, page=page, page_size=page_size
        )
        return await self._transport.model(
            Page[Customer], "GET", url, idempotent=True, params=params
        )

    def iter_customers(
        self,
        project_id: str,
        *,
        status: CustomerStatus | None = None,
        metadata: Metadata | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Customer]:
        url = path(P + "/customers", project_id)
        params = query(status=status, metadata=metadata, from_=from_, to=to, page_size=page_size)
        return self._transport.items(Page[Customer], url, params)

    async def get_customer(self, project_id: str, customer_id: str) -> Customer:
        url = path(C, project_id, customer_id)
        return await self._transport.model(Customer, "GET", url, idempotent=True)

    async def delete_customer(self, project_id: str, customer_id: str) -> None:
        await self._transport.request("DELETE", path(C, project_id, customer_id), idempotent=True)

    async def suspend_customer(self, project_id: str, customer_id: str) -> Customer:
        url = path(C + "/suspend", project_id, customer_id)
        return await self._transport.model(Customer, "PUT", url, idempotent=True)

    async def resume_customer(
        self, project_id: str, customer_id: str, wallet_ids: list[str] | None = None
    ) -> Customer:
        url, sent = path(C + "/resume", project_id, customer_id), body(wallet_ids=wallet_ids)
        return await self._transport.model(Customer, "PUT", url, idempotent=True, json=sent)

    async def replace_customer_metadata(
        self, project_id: str, customer_id: str, metadata: Metadata
    ) -> Customer:
        url, sent = path(C + "/metadata", project_id, customer_id), {"metadata": metadata}
        return await self._transport.model(Customer, "PUT", url, idempotent=True, json=sent)

    async def list_customer_wallets(
        self,
        project_id: str,
        customer_id: str,
        *,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[Wallet]:
        url, params = (
            path(C + "/wallets", project_id, customer_id),
            query(page=page, page_size=page_size),
        )
        return await self._transport.model(Page[Wallet], "GET", url, idempotent=True, params=params)

    def iter_customer_wallets(
        self, project_id: str, customer_id: str, *, page_size: int | None = None
    ) -> AsyncIterator[Wallet]:
        url = path(C + "/wallets", project_id, customer_id)
        return self._transport.items(Page[Wallet], url, query(page_size=page_size))
