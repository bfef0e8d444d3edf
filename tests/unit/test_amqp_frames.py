"""`BufferedFrameReceiver` yields exactly the frames pamqp decodes one by one, in order, however
the byte stream is cut into reads; a stream that ends inside a frame, a broken frame or a failing
socket is a connection error, and a stream that ends between frames ends the iteration. Its own
decoding of a delivery's frames and of `basic.ack` gives what pamqp gives, field by field, and
leaves every other frame to pamqp."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import pamqp.frame
import pytest
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pamqp.heartbeat import Heartbeat

from shared.fastpath.frames import BufferedFrameReceiver, decode

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-_", max_size=40)
texts = st.one_of(st.none(), st.text(max_size=60))  # at most 240 bytes: a short string
tags = st.integers(min_value=1, max_value=2**63 - 1)
properties = st.builds(
    spec.Basic.Properties,
    content_type=texts,
    content_encoding=texts,
    headers=st.one_of(st.none(), st.builds(lambda n: {"x-delivery-count": n}, st.integers(0, 9))),
    delivery_mode=st.sampled_from([None, 1, 2]),
    priority=st.one_of(st.none(), st.integers(0, 9)),
    correlation_id=texts,
    reply_to=texts,
    expiration=st.one_of(st.none(), st.integers(0, 10**6).map(str)),
    message_id=texts,
    timestamp=st.one_of(
        st.none(), st.integers(0, 2**31).map(lambda s: datetime.fromtimestamp(s, UTC))
    ),
    message_type=texts,
    user_id=texts,
    app_id=texts,
)
frames = st.one_of(
    st.builds(
        spec.Basic.Deliver,
        consumer_tag=names,
        delivery_tag=tags,
        redelivered=st.booleans(),
        exchange=names,
        routing_key=names,
    ),
    st.builds(ContentHeader, body_size=st.integers(0, 2**20), properties=properties),
    st.builds(ContentBody, st.binary(min_size=1, max_size=3000)),
    st.builds(spec.Basic.Ack, delivery_tag=tags, multiple=st.booleans()),
    st.builds(spec.Basic.Nack, delivery_tag=tags, multiple=st.booleans(), requeue=st.booleans()),
    st.builds(
        spec.Channel.Close,
        reply_code=st.integers(200, 599),
        reply_text=names,
        class_id=st.just(0),
        method_id=st.just(0),
    ),
)
# (channel, frame): heartbeats travel on channel 0.
channel_frames = st.one_of(
    st.tuples(st.integers(1, 4), frames), st.tuples(st.just(0), st.builds(Heartbeat))
)


class Reads:
    """A stream reader that answers each read with the next of the given chunks, then EOF."""

    def __init__(self, chunks: list[bytes], error: OSError | None = None) -> None:
        self.chunks = chunks
        self.error = error

    async def read(self, n: int = -1) -> bytes:
        if not self.chunks:
            if self.error is not None:
                raise self.error
            return b""
        chunk = self.chunks.pop(0)
        assert len(chunk) <= n
        return chunk


def receiver(chunks: list[bytes], error: OSError | None = None) -> BufferedFrameReceiver:
    frame_receiver = BufferedFrameReceiver(Reads(chunks, error))  # type: ignore[arg-type]
    frame_receiver.started = True  # past the handshake, which aiormq's own reading does
    return frame_receiver


def cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    return [stream[a:b] for a, b in itertools.pairwise(points)]


async def read_all(frame_receiver: BufferedFrameReceiver) -> list[tuple[int, int, bytes]]:
    """Each frame as (bytes consumed, channel, the frame marshalled again)."""
    return [
        (weight, channel, pamqp.frame.marshal(frame, channel))
        async for weight, channel, frame in frame_receiver
    ]


@settings(max_examples=300)
@given(st.lists(channel_frames, min_size=1, max_size=30), st.lists(st.integers(0, 2**20)))
def test_frames_come_out_whole_and_in_order_however_the_stream_is_read(
    sent: list[tuple[int, Any]], cuts: list[int]
) -> None:
    marshalled = [pamqp.frame.marshal(frame, channel) for channel, frame in sent]
    expected = [(len(m), channel, m) for m, (channel, _) in zip(marshalled, sent, strict=True)]
    chunks = cut(b"".join(marshalled), cuts)
    assert asyncio.run(read_all(receiver(chunks))) == expected


@settings(max_examples=100)
@given(st.lists(channel_frames, min_size=1, max_size=10), st.integers(1, 100))
def test_a_stream_that_ends_inside_a_frame_is_a_connection_error(
    sent: list[tuple[int, Any]], missing_bytes: int
) -> None:
    marshalled = [pamqp.frame.marshal(frame, channel) for channel, frame in sent]
    stream = b"".join(marshalled)
    # Cut inside the last frame: at least one of its bytes sent, at least one missing.
    truncated = stream[: len(stream) - 1 - missing_bytes % (len(marshalled[-1]) - 1)]
    with pytest.raises(AMQPConnectionError, match="unexpectedly closed"):
        asyncio.run(read_all(receiver([truncated])))


def test_a_frame_without_its_end_octet_is_invalid() -> None:
    frame = bytearray(pamqp.frame.marshal(spec.Basic.Ack(delivery_tag=7), 1))
    frame[-1] = 0
    with pytest.raises(InvalidFrameError):
        asyncio.run(read_all(receiver([bytes(frame)])))


def test_a_failing_socket_is_a_connection_error_after_the_frames_read() -> None:
    ack = pamqp.frame.marshal(spec.Basic.Ack(delivery_tag=7), 1)
    frame_receiver = receiver([ack], ConnectionResetError("reset by peer"))

    async def first_then_error() -> tuple[int, int, object]:
        first = await frame_receiver.get_frame()
        with pytest.raises(AMQPConnectionError, match="reset by peer"):
            await frame_receiver.get_frame()
        return first

    weight, channel, frame = asyncio.run(first_then_error())
    assert (weight, channel) == (len(ack), 1)
    assert isinstance(frame, spec.Basic.Ack) and frame.delivery_tag == 7


def fields(frame: Any) -> dict[str, object]:
    """Every field of a pamqp frame, the properties of a content header included."""
    if isinstance(frame, ContentHeader):
        header = {name: getattr(frame, name) for name in ("class_id", "weight", "body_size")}
        return header | {
            f"properties.{name}": value for name, value in fields(frame.properties).items()
        }
    if isinstance(frame, ContentBody):
        return {"value": frame.value}
    return {name: getattr(frame, name) for name in type(frame).__slots__}


@settings(max_examples=500)
@given(channel_frames)
def test_decoded_frames_are_pamqps_field_by_field(sent: tuple[int, Any]) -> None:
    channel, frame = sent
    marshalled = pamqp.frame.marshal(frame, channel)
    _, _, expected = pamqp.frame.unmarshal(marshalled)
    decoded = decode(marshalled[0], marshalled[7:-1])
    handled_here = isinstance(frame, spec.Basic.Deliver | spec.Basic.Ack | ContentBody) or (
        isinstance(frame, ContentHeader)
        and frame.properties.headers is None
        and frame.properties.timestamp is None
    )
    if not handled_here:
        assert decoded is None
        return
    assert type(decoded) is type(expected)
    assert fields(decoded) == fields(expected)


@pytest.mark.parametrize("cut_bytes", [1, 5, 9])
def test_a_delivery_frame_cut_short_is_invalid(cut_bytes: int) -> None:
    deliver = spec.Basic.Deliver("ctag", 7, False, "cloudwallet.transactions", "partition.3")
    marshalled = bytearray(pamqp.frame.marshal(deliver, 1))
    payload = marshalled[7:-1][:-cut_bytes]
    frame = bytes(marshalled[:3]) + len(payload).to_bytes(4, "big") + bytes(payload) + b"\xce"
    with pytest.raises(InvalidFrameError):
        asyncio.run(read_all(receiver([frame])))


def test_an_empty_body_frame_is_invalid_as_pamqp_has_it() -> None:
    empty_body = bytes([3]) + (1).to_bytes(2, "big") + (0).to_bytes(4, "big") + b"\xce"
    with pytest.raises(InvalidFrameError):
        asyncio.run(read_all(receiver([empty_body])))
