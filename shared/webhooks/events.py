"""The events webhooks deliver (design section 12): a transaction's final state, and a hold's
capture, void or expiry, each a body `{id, type, createdAt, data}` with `data` the resource as
the API shows it. An event's id is the message id of the same event on the events exchange
(worker/outbox.py): the transaction's id, or `<holdId>.<status>`; it is the `webhook-id` of
every attempt to deliver it, by which a receiver recognizes an event it has seen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

TRANSACTION_COMPLETED = "transaction.completed"
TRANSACTION_FAILED = "transaction.failed"
HOLD_CAPTURED = "hold.captured"
HOLD_VOIDED = "hold.voided"
HOLD_EXPIRED = "hold.expired"
EVERY_EVENT = "*"
EVENT_TYPES = (TRANSACTION_COMPLETED, TRANSACTION_FAILED, HOLD_CAPTURED, HOLD_VOIDED, HOLD_EXPIRED)
SUBSCRIBABLE = (*EVENT_TYPES, EVERY_EVENT)
_TRANSACTION_TYPES = {"Completed": TRANSACTION_COMPLETED, "Failed": TRANSACTION_FAILED}
_HOLD_TYPES = {"Captured": HOLD_CAPTURED, "Voided": HOLD_VOIDED, "Expired": HOLD_EXPIRED}


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a project, its body written once (every attempt sends the same bytes)."""

    project_id: str
    event_id: str
    event_type: str
    body: bytes


def subscribed(events: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to `events` receives an event of `event_type`."""
    return any(subscription in (event_type, EVERY_EVENT) for subscription in events)


def _event(project_id: str, event_id: str, event_type: str, at: str, data: Any) -> Event:
    body = {"id": event_id, "type": event_type, "createdAt": at, "data": data}
    return Event(project_id, event_id, event_type, orjson.dumps(body))


def transaction_events(
    project_id: str, transaction: dict[str, Any], holds: dict[str, dict[str, Any]]
) -> list[Event]:
    """The events of one transaction's final state (the API's body of it): the transaction's
    own, then one for each hold it captured, voided or expired (`holds`: the holds by id, as
    the API shows them now). A hold's event belongs to the transaction that resolved it, so
    that a hold made and resolved before the events are read is announced once."""
    event_type = _TRANSACTION_TYPES.get(transaction["status"])
    if event_type is None:
        return []
    at = transaction.get("completedAt") or transaction["createdAt"]
    found = [_event(project_id, transaction["id"], event_type, at, transaction)]
    if transaction["status"] != "Completed":
        return found
    for operation in transaction["operations"]:
        hold = holds.get(operation.get("holdId", ""))
        if hold is None or hold.get("resolvedByTransactionId") != transaction["id"]:
            continue
        hold_type = _HOLD_TYPES.get(hold["status"])
        if hold_type is not None:
            event_id = f"{hold['id']}.{hold['status'].lower()}"
            found.append(_event(project_id, event_id, hold_type, hold["resolvedAt"] or at, hold))
    return found
