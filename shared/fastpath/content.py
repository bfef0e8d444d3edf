"""A message's content frames (its header frame and body frames) written by hand for the
properties the service publishes with: pamqp builds them through its generic encoder at
4.4 us a header, which was the largest single step of announcing an event (a writer announces
one per transaction, and one more per hold it makes or resolves). The bytes are pamqp's own
(tests/unit/test_amqp_content.py holds them equal); properties outside that shape (a
timestamp, a header that is not a string) go through pamqp
(docs/decisions/0011-hand-written-protocol-code.md)."""

from __future__ import annotations

import struct

from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.frame import marshal
from pamqp.header import ContentHeader

FRAME_HEADER, FRAME_BODY, FRAME_END = 2, 3, b"\xce"
_FRAME_START = struct.Struct(">BHI")  # type, channel, payload size
_HEADER_START = struct.Struct(">HHQH")  # class id, weight, body size, property flags
# The properties in their order on the wire (their flags' order), each with its flag and kind.
_SHORT_STRING, _OCTET, _TABLE, _OTHER = "shortstr", "octet", "table", "other"
_KINDS = {"headers": _TABLE, "delivery_mode": _OCTET, "priority": _OCTET, "timestamp": _OTHER}
_PROPERTIES = tuple(
    (name, flag, _KINDS.get(name, _SHORT_STRING))
    for name, flag in sorted(spec.Basic.Properties.flags.items(), key=lambda item: -item[1])
)
TABLE_KEY_BYTES_MAX = 128  # pamqp truncates longer field names: those go through pamqp


def content_frames(
    channel_number: int, properties: spec.Basic.Properties, body: bytes, size_max: int
) -> list[bytes]:
    """The header frame and the body frames of a message, as pamqp's `marshal` gives them."""
    header = _header_payload(properties, len(body))
    if header is None:
        content_header = ContentHeader(properties=properties, body_size=len(body))
        frames = [marshal(content_header, channel_number)]
        frames.extend(
            marshal(ContentBody(body[start : start + size_max]), channel_number)
            for start in range(0, len(body), size_max)
        )
        return frames
    frames = [_FRAME_START.pack(FRAME_HEADER, channel_number, len(header)) + header + FRAME_END]
    for start in range(0, len(body), size_max):
        part = body[start : start + size_max]
        frames.append(_FRAME_START.pack(FRAME_BODY, channel_number, len(part)) + part + FRAME_END)
    return frames


def _header_payload(properties: spec.Basic.Properties, body_size: int) -> bytes | None:
    """The content header's payload, or None if a property is outside the hand-written shape."""
    flags = 0
    parts: list[bytes] = []
    for name, flag, kind in _PROPERTIES:
        value = getattr(properties, name)
        if value is None or value == "":  # pamqp leaves both out
            continue
        if kind is _SHORT_STRING:
            encoded = value.encode()
            if len(encoded) > 255:
                return None
            parts.append(bytes((len(encoded),)) + encoded)
        elif kind is _OCTET:
            parts.append(bytes((value,)))
        elif kind is _TABLE and isinstance(value, dict):
            table = _string_table(value)
            if table is None:
                return None
            parts.append(table)
        else:  # a timestamp, or headers of another kind
            return None
        flags |= flag
    return _HEADER_START.pack(spec.Basic.frame_id, 0, body_size, flags) + b"".join(parts)


def _string_table(headers: dict[str, object]) -> bytes | None:
    """A field table of string values (AMQP long strings) in pamqp's order (by name), or None
    for any other value."""
    entries = []
    for key, value in sorted(headers.items()):
        if not isinstance(value, str):
            return None
        name, text = key.encode(), value.encode()
        if len(name) > TABLE_KEY_BYTES_MAX:
            return None
        entries.append(bytes((len(name),)) + name + b"S" + len(text).to_bytes(4, "big") + text)
    table = b"".join(entries)
    return len(table).to_bytes(4, "big") + table
