"""The content frames written by hand (shared/fastpath/content.py) are pamqp's own bytes, for
every shape of properties the service publishes with and for those it hands to pamqp."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.frame import marshal
from pamqp.header import ContentHeader

from shared.fastpath.content import content_frames

short_strings = st.text(st.characters(codec="utf-8"), max_size=40)
octets = st.integers(min_value=0, max_value=255)
string_headers = st.dictionaries(st.text(min_size=1, max_size=20), short_strings, max_size=4)
properties = st.builds(
    spec.Basic.Properties,
    content_type=st.none() | short_strings,
    content_encoding=st.none() | short_strings,
    headers=st.none() | string_headers,
    delivery_mode=st.none() | st.integers(min_value=1, max_value=2),
    priority=st.none() | st.integers(min_value=0, max_value=9),
    correlation_id=st.none() | short_strings,
    reply_to=st.none() | short_strings,
    expiration=st.none() | st.integers(min_value=0, max_value=10**6).map(str),
    message_id=st.none() | short_strings,
    message_type=st.none() | short_strings,
    app_id=st.none() | short_strings,
)


def pamqp_frames(
    number: int, props: spec.Basic.Properties, body: bytes, size_max: int
) -> list[bytes]:
    frames = [marshal(ContentHeader(properties=props, body_size=len(body)), number)]
    frames += [
        marshal(ContentBody(body[start : start + size_max]), number)
        for start in range(0, len(body), size_max)
    ]
    return frames


@given(
    st.integers(min_value=1, max_value=2047),
    properties,
    st.binary(max_size=300),
    st.integers(min_value=1, max_value=128),
)
def test_content_frames_are_pamqps(
    number: int, props: spec.Basic.Properties, body: bytes, size_max: int
) -> None:
    assert content_frames(number, props, body, size_max) == pamqp_frames(
        number, props, body, size_max
    )


def test_the_event_shape_and_what_pamqp_encodes_itself() -> None:
    event = spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id="01JDQ7Y2ZK8V3N4B5C6D7E8F9G",
        headers={"request-id": "req-1"},
    )
    other = [
        spec.Basic.Properties(timestamp=datetime(2026, 1, 1, tzinfo=UTC)),
        spec.Basic.Properties(headers={"x-count": 3, "nested": {"a": "b"}}),
    ]
    for props in (event, *other):
        assert content_frames(1, props, b"{}", 4096) == pamqp_frames(1, props, b"{}", 4096)
