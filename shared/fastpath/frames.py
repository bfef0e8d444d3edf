"""Reading AMQP frames in chunks. aiormq's FrameReceiver reads every frame with three
`readexactly` calls under a lock into a BytesIO, three frames per delivery, and pamqp decodes
each one field by field. `BufferedFrameReceiver` reads what the socket holds, up to
`READ_BYTES_MAX`, and splits every whole frame out of it, so that a chunk of deliveries is read
in one step. The frames a consumer and a confirming publisher get most (a delivery's
`basic.deliver`, content header and body, and the broker's `basic.ack`) it decodes itself, into
pamqp's own classes; any other frame, and a content header with a field table or a timestamp,
is pamqp's to decode, and `tests/unit/test_amqp_frames.py` checks that both ways agree on
generated frames. Receiving a delivery costs a consumer 12 us of CPU instead of 28 with aiormq's
reader, and a writer draining a queue spends a median 25% more CPU per transaction without it
(docs/decisions/0011-hand-written-protocol-code.md).

`shared/fastpath/channels.py` `install()` puts it in every aiormq connection opened afterwards
in the process. The protocol handshake still goes through aiormq's own reading, frame by frame,
so nothing is read ahead of it."""

from __future__ import annotations

import asyncio
import struct
from collections import deque

import aiormq.connection
import pamqp.frame
from aiormq.connection import ReceivedFrame
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError
from pamqp import commands as spec
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.exceptions import PAMQPException
from pamqp.frame import FrameTypes
from pamqp.header import ContentHeader

READ_BYTES_MAX = 256 * 1024
# type (octet), channel (short), payload size (long); the payload and a frame-end octet follow.
FRAME_HEADER = struct.Struct(">BHI")
FRAME_OVERHEAD_BYTES = FRAME_HEADER.size + 1
FRAME_END = 0xCE
FRAME_METHOD, FRAME_CONTENT_HEADER, FRAME_CONTENT_BODY = 1, 2, 3
METHOD_INDEX = struct.Struct(">I")  # class id and method id
LONG_LONG = struct.Struct(">Q")
# class id, weight, body size, the first word of property flags
CONTENT_HEADER_START = struct.Struct(">HHQH")
# Basic.Properties in wire order: name, flag, AMQP type; and the value of one that is absent.
PROPERTIES = [
    (name, spec.Basic.Properties.flags[name], getattr(spec.Basic.Properties, f"_{name}"))
    for name in spec.Basic.Properties.__slots__
]
PROPERTY_DEFAULTS = {name: getattr(spec.Basic.Properties(), name) for name, _, _ in PROPERTIES}
# A content header with any of these flags (a field table, a timestamp, or more flag words to
# follow) is decoded by pamqp.
PAMQP_PROPERTY_FLAGS = 1 | sum(
    flag for _, flag, kind in PROPERTIES if kind not in ("shortstr", "octet")
)


class BufferedFrameReceiver(aiormq.connection.FrameReceiver):
    """aiormq's frame receiver, reading a chunk of frames per read once the connection is open.
    Holds at most one read and one partial frame (a frame is at most the negotiated
    `frame_max`)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        super().__init__(reader)
        self._pending = bytearray()
        self._frames: deque[ReceivedFrame] = deque()

    async def get_frame(self) -> ReceivedFrame:
        if not self.started:  # the handshake: aiormq's own checks of the protocol header
            return await super().get_frame()
        while not self._frames:
            await self._read()
        return self._frames.popleft()

    async def _read(self) -> None:
        """Read once, and queue every whole frame the buffer then holds."""
        try:
            data = await self.reader.read(READ_BYTES_MAX)
        except OSError as error:  # ConnectionResetError and the like, as aiormq words them
            raise AMQPConnectionError(f"Server communication error: {error!r}") from error
        if not data:
            if self._pending:
                raise AMQPConnectionError(
                    f"Server connection unexpectedly closed with {len(self._pending)} bytes"
                    " of a frame unread"
                )
            raise StopAsyncIteration
        pending = self._pending
        pending += data
        end, offset = len(pending), 0
        with memoryview(pending) as view:
            while end - offset >= FRAME_OVERHEAD_BYTES:
                frame_type, channel, size = FRAME_HEADER.unpack_from(pending, offset)
                frame_end = offset + FRAME_OVERHEAD_BYTES + size
                if frame_end > end:
                    break
                payload = bytes(view[offset + FRAME_HEADER.size : frame_end - 1])
                try:
                    frame: FrameTypes | None = decode(frame_type, payload)
                    if frame is None:
                        frame = pamqp.frame.unmarshal(bytes(view[offset:frame_end]))[2]
                    elif pending[frame_end - 1] != FRAME_END:
                        raise ValueError("no frame-end octet")
                except (PAMQPException, ValueError, IndexError, struct.error) as error:
                    raise InvalidFrameError(str(error)) from error
                self._frames.append((frame_end - offset, channel, frame))
                offset = frame_end
        del pending[:offset]


def decode(frame_type: int, payload: bytes) -> Frame | ContentHeader | ContentBody | None:
    """A delivery's frames and a publisher confirm, decoded as pamqp would; None for any other
    frame (and for an empty one, which pamqp refuses). Raises ValueError (or IndexError,
    struct.error) on a malformed payload."""
    if not payload:
        return None
    if frame_type == FRAME_CONTENT_BODY:
        return ContentBody(payload)
    if frame_type == FRAME_CONTENT_HEADER:
        return _content_header(payload)
    if frame_type != FRAME_METHOD or len(payload) < METHOD_INDEX.size:
        return None
    index = METHOD_INDEX.unpack_from(payload)[0]
    if index == spec.Basic.Deliver.index:
        return _deliver(payload)
    if index == spec.Basic.Ack.index:
        return _ack(payload)
    return None


def _deliver(payload: bytes) -> spec.Basic.Deliver:
    consumer_tag, at = _short_str(payload, METHOD_INDEX.size)
    delivery_tag = LONG_LONG.unpack_from(payload, at)[0]
    redelivered = bool(payload[at + LONG_LONG.size] & 1)
    exchange, at = _short_str(payload, at + LONG_LONG.size + 1)
    routing_key, at = _short_str(payload, at)
    _check_consumed(payload, at)
    deliver: spec.Basic.Deliver = spec.Basic.Deliver.__new__(spec.Basic.Deliver)
    deliver.consumer_tag = consumer_tag
    deliver.delivery_tag = delivery_tag
    deliver.redelivered = redelivered
    deliver.exchange = exchange
    deliver.routing_key = routing_key
    return deliver


def _ack(payload: bytes) -> spec.Basic.Ack:
    at = METHOD_INDEX.size
    _check_consumed(payload, at + LONG_LONG.size + 1)
    ack: spec.Basic.Ack = spec.Basic.Ack.__new__(spec.Basic.Ack)
    ack.delivery_tag = LONG_LONG.unpack_from(payload, at)[0]
    ack.multiple = bool(payload[at + LONG_LONG.size] & 1)
    return ack


def _content_header(payload: bytes) -> ContentHeader | None:
    class_id, weight, body_size, flags = CONTENT_HEADER_START.unpack_from(payload)
    if flags & PAMQP_PROPERTY_FLAGS:
        return None
    properties = spec.Basic.Properties.__new__(spec.Basic.Properties)
    at = CONTENT_HEADER_START.size
    for name, flag, kind in PROPERTIES:
        value: object = PROPERTY_DEFAULTS[name]
        if flags & flag:
            if kind == "octet":
                value, at = payload[at], at + 1
            else:
                value, at = _short_str(payload, at)
        setattr(properties, name, value)
    _check_consumed(payload, at)
    header: ContentHeader = ContentHeader.__new__(ContentHeader)
    header.class_id, header.weight, header.body_size = class_id, weight, body_size
    header.properties = properties
    return header


def _short_str(payload: bytes, at: int) -> tuple[str, int]:
    end = at + 1 + payload[at]
    _check_within(payload, end)
    return payload[at + 1 : end].decode(), end


def _check_within(payload: bytes, end: int) -> None:
    if end > len(payload):
        raise ValueError("a field runs past the end of its frame")


def _check_consumed(payload: bytes, end: int) -> None:
    if end != len(payload):
        raise ValueError(f"a frame of {len(payload)} bytes whose fields end at byte {end}")
