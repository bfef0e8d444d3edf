"""Query strings and cursors of the list routes: what they accept and refuse, and that a
cursor round-trips its keys exactly and refuses anything that is not a cursor of its list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gateway.listing import (
    EARLIEST,
    ID_KEY,
    LATEST,
    NUMBER_KEY,
    decode_cursor,
    encode_cursor,
    key_moment,
    moment_key,
    page_start,
)
from gateway.query_strings import EPOCH_MS_MAX, LedgerQuery, PageQuery
from shared.errors import ValidationFailed

CONTEXT = {"page_size_max": 500}


def test_page_defaults_and_bounds() -> None:
    query = PageQuery.model_validate({}, context=CONTEXT)
    assert (query.page, query.size(50)) == (1, 50)
    assert PageQuery.model_validate({"page": "3", "pageSize": "500"}, context=CONTEXT).page == 3


@pytest.mark.parametrize(
    "values",
    [
        {"page": "0"},
        {"page": "-1"},
        {"page": "1.0"},
        {"page": " 1"},
        {"page": "1e3"},
        {"page": "1_0"},
        {"page": "\uff11"},
        {"page": "1000000001"},
        {"pageSize": "0"},
        {"pageSize": "501"},
        {"pageSize": "x"},
        {"pageSize": "99999999999999999999"},
    ],
)
def test_bad_pages(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        PageQuery.model_validate(values, context=CONTEXT)


@pytest.mark.parametrize(
    "values",
    [
        {"from": "-1"},
        {"to": str(EPOCH_MS_MAX + 1)},
        {"order": "newest"},
        {"cursor": ""},
        {"cursor": "a b"},
        {"cursor": "x" * 201},
        {"cursor": "abc", "page": "2"},
    ],
)
def test_bad_ledger_queries(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        LedgerQuery.model_validate(values, context=CONTEXT)


def test_window_is_exact_milliseconds() -> None:
    query = LedgerQuery.model_validate({"from": "1738324800123", "to": "0"}, context=CONTEXT)
    assert query.window() == (
        datetime(2025, 1, 31, 12, 0, 0, 123_000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    )
    assert query.order == "desc"


def test_cursor_round_trip() -> None:
    moment = datetime(2025, 1, 31, 12, 0, 0, 123_456, tzinfo=UTC)
    cursor = encode_cursor("t", moment_key(moment), "01JD3ZT9K1W5R8M2FXQ4N6C3HB")
    keys = decode_cursor(cursor, "t", NUMBER_KEY, ID_KEY)
    assert keys[1] == "01JD3ZT9K1W5R8M2FXQ4N6C3HB"
    assert key_moment(keys[0]) == moment
    assert decode_cursor(encode_cursor("e", "42"), "e", NUMBER_KEY) == ["42"]


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "!!!!",
        encode_cursor("t", "42", "x"),  # a transaction cursor offered to the entries list
        encode_cursor("e", "x"),
        encode_cursor("e", "1" * 19),
        encode_cursor("e", "1", "2"),
        "gA",  # not UTF-8 once decoded
    ],
)
def test_foreign_or_broken_cursors_are_400(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, "e", NUMBER_KEY)


def test_a_cursor_time_beyond_year_9999_is_400() -> None:
    with pytest.raises(ValidationFailed):
        key_moment(str(10**17 * 3))


T1, T2, T3 = (datetime(2026, 1, day, tzinfo=UTC) for day in (1, 2, 3))


@pytest.mark.parametrize(
    ("window", "after", "newest_first", "expected"),
    [
        # no cursor: the window's edge on the page's side, or the end of the list
        ((None, None), None, True, ((LATEST, ""), None)),
        ((None, None), None, False, ((EARLIEST, ""), None)),
        ((T1, T3), None, True, ((T3, ""), T1)),
        ((T1, T3), None, False, ((T1, ""), T3)),
        # a cursor inside the window starts the page; the window's far edge stops it
        ((T1, T3), (T2, "x"), True, ((T2, "x"), T1)),
        ((T1, T3), (T2, "x"), False, ((T2, "x"), T3)),
        # a cursor outside the window: the window's edge is nearer
        ((T1, T2), (T3, "x"), True, ((T2, ""), T1)),
        ((T2, T3), (T1, "x"), False, ((T2, ""), T3)),
        # a cursor at the window's edge: on the `to` side the edge (exclusive) is nearer
        ((T1, T2), (T2, "x"), True, ((T2, ""), T1)),
        ((T2, T3), (T2, "x"), False, ((T2, "x"), T3)),
    ],
)
def test_a_page_starts_after_one_bound_and_stops_at_the_far_edge(
    window: tuple[datetime | None, datetime | None],
    after: tuple[datetime, str] | None,
    newest_first: bool,
    expected: tuple[tuple[datetime, str], datetime | None],
) -> None:
    assert page_start(window, after, newest_first, lowest_id="") == expected
