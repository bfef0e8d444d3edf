"""The asynchronous client's ledger routes: transactions (submitted, waited for, listed,
reversed) and holds. Generated into `_sync/ledger.py` by
`sdk/tools/unasync.py`: edit this one.

A submission is safe to repeat: it carries its reference ID, so the client tries it again
after a 429, a 503 or a lost answer with the same body, and a repeat that finds its own first
attempt applied (409 DuplicateReferenceId whose body matched) answers that transaction."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Literal

from cloudwallet_client._async.transport import AsyncTransport, path
from cloudwallet_client._query import Moment, operations_json, query
from cloudwallet_client.errors import DuplicateReferenceId, TransactionTimeout
from cloudwallet_client.models import (
    BaseOperation,
    HoldState,
    Metadata,
    Page,
    Transaction,
    TransactionAccepted,
    TransactionBatchResult,
    TransactionStatus,
)

P = "/projects/{}"
T = P + "/transactions"
Operations = Iterable[BaseOperation | Mapping[str, Any]]
Order = Literal["desc", "asc"]
HoldStatus = Literal["Pending", "Captured", "Voided", "Expired"]
# Polling a Pending transaction: the first pause, doubling up to the longest.
POLL_FIRST_S = 0.02
POLL_MAX_S = 1.0


class AsyncLedger:
    """Transactions, holds, entries and balances."""

    _transport: AsyncTransport

    async def submit_transaction(
        self,
        project_id: str,
        reference_id: str,
        operations: Operations,
        *,
        metadata: Metadata | None = None,
    ) -> TransactionAccepted:
        """Submit a transaction (202, Pending): its operations apply in order, all or none.
        A reference ID is used once per project: another request under it raises
        DuplicateReferenceId (with the transaction that holds it)."""
        sent: dict[str, Any] = {
            "referenceId": reference_id,
            "operations": operations_json(operations),
        }
        if metadata is not None:
            sent["metadata"] = metadata
        return await self._submit(path(T, project_id), sent)

    async def reverse_transaction(
        self,
        project_id: str,
        transaction_id: str,
        reference_id: str,
        *,
        metadata: Metadata | None = None,
    ) -> TransactionAccepted:
        """Submit the reversal of a Completed transaction under its own reference ID: the
        writer decides it, so a refusal (NotReversible, AlreadyReversed, InsufficientFunds) is
        the reversal's Failed status, not an error here."""
        sent: dict[str, Any] = {"referenceId": reference_id}
        if metadata is not None:
            sent["metadata"] = metadata
        return await self._submit(path(T + "/{}/reversal", project_id, transaction_id), sent)

    async def submit_transaction_batch(
        self, project_id: str, transactions: Iterable[Mapping[str, Any]]
    ) -> TransactionBatchResult:
        """Submit up to the deployment's batch limit of independent transactions (each a dict
        with referenceId, operations and optional metadata; operations may be models); each
        item answers as the single route would have."""
        items = [
            dict(item) | {"operations": operations_json(item["operations"])}
            if "operations" in item
            else dict(item)
            for item in transactions
        ]
        url = path(T + "/batch", project_id)
        return await self._transport.model(
            TransactionBatchResult, "POST", url, idempotent=True, json={"transactions": items}
        )

    async def get_transaction(self, project_id: str, transaction_id: str) -> Transaction:
        url = path(T + "/{}", project_id, transaction_id)
        return await self._transport.model(Transaction, "GET", url, idempotent=True)

    async def wait_for_transaction(
        self, project_id: str, transaction_id: str, *, timeout_s: float = 30.0
    ) -> Transaction:
        """The transaction once Completed or Failed, read again with growing pauses; raises
        TransactionTimeout if it is still Pending after `timeout_s`."""
        started_s = time.monotonic()
        pause_s = POLL_FIRST_S
        transaction = await self.get_transaction(project_id, transaction_id)
        while transaction.status == "Pending":
            waited_s = time.monotonic() - started_s
            if waited_s + pause_s > timeout_s:
                raise TransactionTimeout(transaction, waited_s)
            await self._transport.sleep(pause_s)
            pause_s = min(POLL_MAX_S, pause_s * 2)
            transaction = await self.get_transaction(project_id, transaction_id)
        return transaction

    async def submit_and_wait(
        self,
        project_id: str,
        reference_id: str,
        operations: Operations,
        *,
        metadata: Metadata | None = None,
        timeout_s: float = 30.0,
    ) -> Transaction:
        """Submit, then wait for the final state: a Completed or Failed transaction (a Failed
        one is returned, with its `failure`, not raised). Calling it again with the same
        reference ID and body returns the same transaction, so a caller may simply repeat it
        after a crash; another body under the reference ID raises DuplicateReferenceId."""
        try:
            accepted = await self.submit_transaction(
                project_id, reference_id, operations, metadata=metadata
            )
        except DuplicateReferenceId as duplicate:
            if not duplicate.request_matches:
                raise
            accepted_id = duplicate.transaction.id
        else:
            accepted_id = accepted.id
        return await self.wait_for_transaction(project_id, accepted_id, timeout_s=timeout_s)

    async def list_transactions(
        self,
        project_id: str,
        *,
        wallet_id: str | None = None,
        reference_id: str | None = None,
        status: TransactionStatus | None = None,
        metadata: Metadata | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        order: Order | None = None,
        cursor: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[Transaction]:
        """One page of the applied transactions, newest first unless order="asc"; pass a
        page's `next_cursor` as `cursor` for the next (or walk them with `iter_transactions`)."""
        params = query(
            wallet_id=wallet_id,
            reference_id=reference_id,
            status=status,
            metadata=metadata,
            from_=from_,
            to=to,
            order=order,
            cursor=cursor,
            page=page,
            page_size=page_size,
        )
        url = path(T, project_id)
        return await self._transport.model(
            Page[Transaction], "GET", url, idempotent=True, params=params
        )

    def iter_transactions(
        self,
        project_id: str,
        *,
        wallet_id: str | None = None,
        reference_id: str | None = None,
        status: TransactionStatus | None = None,
        metadata: Metadata | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        order: Order | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Transaction]:
        params = query(
            wallet_id=wallet_id,
            reference_id=reference_id,
            status=status,
            metadata=metadata,
            from_=from_,
            to=to,
            order=order,
            page_size=page_size,
        )
        return self._transport.items(Page[Transaction], path(T, project_id), params)

    async def get_hold(self, project_id: str, hold_id: str) -> HoldState:
        url = path(P + "/holds/{}", project_id, hold_id)
        return await self._transport.model(HoldState, "GET", url, idempotent=True)

    async def list_holds(
        self,
        project_id: str,
        *,
        wallet_id: str | None = None,
        status: HoldStatus | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        order: Order | None = None,
        cursor: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[HoldState]:
        params = query(
            wallet_id=wallet_id,
            status=status,
            from_=from_,
            to=to,
            order=order,
            cursor=cursor,
            page=page,
            page_size=page_size,
        )
        url = path(P + "/holds", project_id)
        return await self._transport.model(
            Page[HoldState], "GET", url, idempotent=True, params=params
        )

    def iter_holds(
        self,
        project_id: str,
        *,
        wallet_id: str | None = None,
        status: HoldStatus | None = None,
        from_: Moment | None = None,
        to: Moment | None = None,
        order: Order | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[HoldState]:
        params = query(
            wallet_id=wallet_id, status=status, from_=from_, to=to, order=order, page_size=page_size
        )
        return self._transport.items(Page[HoldState], path(P + "/holds", project_id), params)

    async def _submit(self, url: str, sent: dict[str, Any]) -> TransactionAccepted:
        try:
            return await self._transport.model(
                TransactionAccepted, "POST", url, idempotent=True, json=sent
            )
        except DuplicateReferenceId as duplicate:
            # An earlier attempt of this very call may have landed before its answer was lost:
            # the same body under the same reference ID is that submission, not another one.
            if duplicate.attempts > 1 and duplicate.request_matches:
                held = duplicate.transaction
                return TransactionAccepted(
                    id=held.id, reference_id=held.reference_id, status=held.status
                )
            raise
