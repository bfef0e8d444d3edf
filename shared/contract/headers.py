"""The headers that follow a queue message's transactions: their request ids
(docs/decisions/0020-operating-signals.md) and, when tracing is on, their W3C traceparents
(docs/decisions/0025-traces.md). A message coalesces several submissions (decision 0007), so
each header holds one entry per transaction the message carries, in their order, separated by
commas, an empty entry for a transaction without one; a single entry is every transaction's
(the items of a batch request share theirs). Neither a request id nor a traceparent holds a
comma (gateway/access.py; the W3C format is hex digits and dashes). A header is left out when
no transaction has an entry. The message body and its schema are untouched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.contract.messages import QueueMessage

REQUEST_IDS_HEADER = "cloudwallet-request-ids"
TRACEPARENTS_HEADER = "cloudwallet-traceparents"
Entries = Sequence[str | None]  # one per transaction, in order


def encode_entries(entries: Entries) -> str | None:
    """One header's value for these transactions' entries; None when none has one."""
    if not any(entries):
        return None
    first = entries[0]
    if first and entries.count(first) == len(entries):
        return first
    return ",".join(entry or "" for entry in entries)


def decode_entries(value: Any, count: int) -> list[str] | None:
    """A header's entries for the `count` transactions of a message, in order ("" for none);
    None without the header. A value from another publisher may hold fewer or more entries:
    the ones past `count` are dropped, and those missing are empty."""
    if value is None:
        return None
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    entries = text.split(",")
    if len(entries) == 1:
        return entries * count
    return (entries + [""] * count)[:count]


def message_headers(
    messages: list[QueueMessage],
    bodies: list[dict[str, Any]],
    followed: Mapping[str, Entries | None],
) -> list[dict[str, Any] | None]:
    """Each message's headers: for every header of `followed` (its entries, one per body, or
    None), the entries of the bodies the message carries. A message is named by its first
    transaction's id, and carries the bodies up to the next message's first (`queue_messages`
    keeps their order)."""
    headers: list[dict[str, Any] | None] = []
    for start, end in _carried(messages, bodies):
        table: dict[str, Any] = {}
        for name, entries in followed.items():
            value = None if entries is None else encode_entries(entries[start:end])
            if value is not None:
                table[name] = value
        headers.append(table or None)
    return headers


def _carried(messages: list[QueueMessage], bodies: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The bounds, in `bodies`, of the bodies each message carries."""
    bounds: list[tuple[int, int]] = []
    index = 0
    followers = [message.message_id for message in messages[1:]]
    for following in [*followers, None]:
        start = index
        while index < len(bodies) and (index == start or bodies[index]["id"] != following):
            index += 1
        bounds.append((start, index))
    return bounds
