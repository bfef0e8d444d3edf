"""The gateway's strict JSON decoding (`gateway.http.decode_json`): a table of bodies it takes
and refuses (floats, constants, repeated keys named by their field, nesting past the limit
however deep, bytes that are not UTF-8), and a property over generated JSON values: nested
within the limit they decode exactly as the standard parser reads them, deeper they are
refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.http import decode_json
from shared.errors import ValidationFailed
from shared.settings import Settings

# The default of Settings.json_depth_max, which decode_json also takes when given no limit.
DEPTH_MAX = 32


def refusal(raw: bytes, depth_max: int | None = None) -> dict[str, str]:
    """The one field a refused body is answered with."""
    with pytest.raises(ValidationFailed) as caught:
        decode_json(raw) if depth_max is None else decode_json(raw, depth_max)
    assert caught.value.status == 400
    assert caught.value.code == "ValidationError"
    fields = (caught.value.details or {})["fields"]
    assert len(fields) == 1
    return dict(fields[0])


def nested(depth: int, kinds: str = "[") -> bytes:
    """A value `depth` levels deep: arrays, objects or both by turns, around a 1."""
    levels = [kinds[level % len(kinds)] == "[" for level in range(depth)]
    opening = "".join("[" if in_array else '{"k":' for in_array in levels)
    closing = "".join("]" if in_array else "}" for in_array in reversed(levels))
    return (opening + "1" + closing).encode()


def test_the_default_limit_is_the_settings_default() -> None:
    assert Settings().json_depth_max == DEPTH_MAX
    assert decode_json(nested(DEPTH_MAX)) == json.loads(nested(DEPTH_MAX))
    assert refusal(nested(DEPTH_MAX + 1))["field"] == "body"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 170141183460469231731687303715884105727}', {"a": 2**127 - 1}),
        (b"[340282366920938463463374607431768211456, -5, 0]", [2**128, -5, 0]),
        (
            b'{"a": "1.5e3", "b": null, "c": true, "d": []}',
            {"a": "1.5e3", "b": None, "c": True, "d": []},
        ),
        (b'{"a": 1, "A": 2, "a ": 3}', {"a": 1, "A": 2, "a ": 3}),
        (
            b'{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}',
            {"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]},
        ),
        ('{"name": "caf\u00e9 \U0001f600"}'.encode(), {"name": "caf\u00e9 \U0001f600"}),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),
        # Brackets inside strings count toward the quick bound, never toward the depth.
        (b'{"a": "' + b"[{" * 100 + b'"}', {"a": "[{" * 100}),
        # Wide is not deep.
        (b"[" + b",".join([b"[[1]]"] * 5000) + b"]", [[[1]]] * 5000),
    ],
)
def test_bodies_that_decode(raw: bytes, expected: Any) -> None:
    assert decode_json(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1.5}',
        b'{"a": 1e3}',
        b'{"a": 1E+3}',
        b'{"a": 100.0}',
        b'{"a": -0.0}',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"{",
        b"",
        b'{"a": 1} x',
        b"\xff",
        b'{"a": "\xc3"}',
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        '{"a": 1}'.encode("utf-32"),
    ],
)
def test_bodies_that_are_not_json_as_the_api_takes_it(raw: bytes) -> None:
    assert refusal(raw)["field"] == "body"


@pytest.mark.parametrize(
    ("raw", "field", "key"),
    [
        (b'{"a": 1, "a": 1}', "a", "a"),
        (b'{"a": 1, "b": 2, "a": 3}', "a", "a"),
        (b'{"a": 1, "\\u0061": 2}', "a", "a"),
        (
            b'{"referenceId": "r", "operations": [{"type": "Issue", "to": "w", "amount": "1",'
            b' "amount": "1000"}]}',
            "operations[0].amount",
            "amount",
        ),
        (
            b'{"transactions": [{}, {"referenceId": "x", "referenceId": "y"}]}',
            "transactions[1].referenceId",
            "referenceId",
        ),
        (b'[[], [{"k": [{"x": 1, "x": 2}]}]]', "[1][0].k[0].x", "x"),
        # The first object to repeat a key is the first one to close.
        (b'{"a": {"b": 1, "b": 2}, "a": 3}', "a.b", "b"),
    ],
)
def test_a_repeated_key_is_refused_by_its_field(raw: bytes, field: str, key: str) -> None:
    assert refusal(raw) == {"field": field, "message": f"repeats the key {key!r}"}


def test_a_long_repeated_key_is_named_cut_short() -> None:
    key = "k" * 10_000
    refused = refusal(f'{{"{key}": 1, "{key}": 2}}'.encode())
    assert refused["field"] == key
    assert len(refused["message"]) < 100


@pytest.mark.parametrize("kinds", ["[", "{", "[{", "{["])
def test_nesting_up_to_the_limit_decodes_and_deeper_is_refused(kinds: str) -> None:
    assert decode_json(nested(DEPTH_MAX, kinds)) == json.loads(nested(DEPTH_MAX, kinds))
    for depth in (DEPTH_MAX + 1, 400, 5_000, 200_000):
        refused = refusal(nested(depth, kinds))
        assert refused == {
            "field": "body",
            "message": f"must not nest more than {DEPTH_MAX} levels deep",
        }, depth


def test_the_limit_is_the_one_given() -> None:
    assert decode_json(nested(8), 8) == json.loads(nested(8))
    assert refusal(nested(9), 8)["message"] == "must not nest more than 8 levels deep"


def test_a_repeated_key_and_deep_nesting() -> None:
    # An object is checked for repeated keys when it closes: the outer one closes after its
    # deep value, so the nesting is what is refused.
    assert refusal(b'{"a": 1, "a": 2, "b": ' + nested(100_000) + b"}") == refusal(nested(33))
    # An inner object closes first; its field cannot be found in a body the parser cannot
    # read whole, so the answer names the key alone.
    assert refusal(b'{"x": {"a": 1, "a": 2}, "b": ' + nested(100_000) + b"}") == {
        "field": "body",
        "message": "repeats the key 'a'",
    }
    assert refusal(b'{"": 1, "": 2}') == {"field": "body", "message": "repeats the key ''"}


# Hypothesis: JSON values as the standard parser gives them (objects with unique keys, no floats).
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**130), max_value=2**130),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=40,
)


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


def wrapped(value: Any, wrappers: list[bool]) -> Any:
    """`value` inside one array (True) or object (False) per wrapper."""
    for in_array in wrappers:
        value = [value] if in_array else {"w": value}
    return value


DEPTH_MAX_GENERATED = 8


@settings(max_examples=300)
@given(
    value=values,
    wrappers=st.lists(st.booleans(), max_size=2 * DEPTH_MAX_GENERATED),
    ascii=st.booleans(),
)
def test_within_the_limit_a_body_decodes_as_the_standard_parser_reads_it(
    value: Any, wrappers: list[bool], ascii: bool
) -> None:
    document = wrapped(value, wrappers)
    raw = json.dumps(document, ensure_ascii=ascii).encode()
    if depth_of(document) <= DEPTH_MAX_GENERATED:
        assert decode_json(raw, DEPTH_MAX_GENERATED) == json.loads(raw)
    else:
        assert refusal(raw, DEPTH_MAX_GENERATED)["field"] == "body"
