"""`BufferedFrameReceiver` yields exactly the frames pamqp decodes one by one, in order, however
the byte stream is cut into reads; a stream that ends inside a frame, a broken frame or a failing
socket is a connection error, and a stream that ends between frames ends the iteration."""

from __future__ import annotations

import asyncio
import itertools

import pamqp.frame
import pytest
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pamqp.heartbeat import Heartbeat

from shared.amqp_frames import BufferedFrameReceiver

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-_", max_size=40)
tags = st.integers(min_value=1, max_value=2**63 - 1)
properties = st.builds(
    spec.Basic.Properties,
    content_type=st.just("application/json"),
    delivery_mode=st.sampled_from([1, 2]),
    message_id=names,
    reply_to=st.one_of(st.none(), names),
    headers=st.one_of(st.none(), st.builds(lambda n: {"x-delivery-count": n}, st.integers(0, 9))),
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
    sent: list[tuple[int, object]], cuts: list[int]
) -> None:
    marshalled = [pamqp.frame.marshal(frame, channel) for channel, frame in sent]
    expected = [(len(m), channel, m) for m, (channel, _) in zip(marshalled, sent, strict=True)]
    chunks = cut(b"".join(marshalled), cuts)
    assert asyncio.run(read_all(receiver(chunks))) == expected


@settings(max_examples=100)
@given(st.lists(channel_frames, min_size=1, max_size=10), st.integers(1, 100))
def test_a_stream_that_ends_inside_a_frame_is_a_connection_error(
    sent: list[tuple[int, object]], missing_bytes: int
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
