"""Pages of lists: page numbers with the configured sizes, and opaque cursors for the
time-ordered lists (entries and transactions), which stay fast however deep the page.

A cursor is base64url (unpadded) of `<kind>.<key>...`: the sort key of the last item of the
page it came from. It is opaque to clients; a cursor of another list, or one that does not
decode, is a 400."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web

from gateway.app_keys import SETTINGS
from gateway.http import read_query
from gateway.query_strings import EPOCH, EPOCH_MS_MAX, LedgerQuery, PageQuery
from gateway.representations import page_items
from gateway.responses import CursorPage
from shared.contract.messages import RESOURCE_ID_LENGTH_MAX, Row
from shared.errors import ValidationFailed

PageModel = TypeVar("PageModel", bound=CursorPage[Any])

NUMBER_KEY = re.compile(r"[0-9]{1,18}")
ID_KEY = re.compile(rf"[A-Za-z0-9_-]{{1,{RESOURCE_ID_LENGTH_MAX}}}")
MOMENT_KEY_MAX = EPOCH_MS_MAX * 1000 + 999
Query = TypeVar("Query", bound=LedgerQuery)


def read_page(request: web.Request) -> tuple[int, int]:
    """`page` and `pageSize` of a plain list, with the configured default and maximum."""
    settings = request.app[SETTINGS]
    query = read_query(request, PageQuery, {"page_size_max": settings.page_size_max})
    return query.page, query.size(settings.page_size_default)


def read_ledger_query(request: web.Request, model: type[Query]) -> tuple[Query, int]:
    """The query of a time-ordered list (`model`, the route's own) and its page size."""
    settings = request.app[SETTINGS]
    query = read_query(request, model, {"page_size_max": settings.page_size_max})
    return query, query.size(settings.page_size_default)


def encode_cursor(kind: str, *keys: str) -> str:
    text = ".".join((kind, *keys)).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def _cursor_parts(cursor: str) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded).decode().split(".")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []


def decode_cursor_kind(cursor: str) -> str | None:
    """The kind a cursor names, if it is one; decode_cursor checks the rest."""
    parts = _cursor_parts(cursor)
    return parts[0] if parts else None


def decode_cursor(cursor: str, kind: str, *shapes: re.Pattern[str]) -> list[str]:
    """The keys of a cursor of this kind of list, each of its shape; a 400 if it is not one."""
    parts = _cursor_parts(cursor)
    keys = parts[1:]
    if (
        parts[:1] != [kind]
        or len(keys) != len(shapes)
        or not all(shape.fullmatch(key) for shape, key in zip(shapes, keys, strict=True))
    ):
        raise not_a_cursor()
    return keys


def not_a_cursor() -> ValidationFailed:
    return ValidationFailed(
        "the cursor is not a cursor of this list",
        details={"fields": [{"field": "cursor", "message": "not a cursor of this list"}]},
    )


def moment_key(moment: datetime) -> str:
    """A moment as whole microseconds since the epoch, exact."""
    delta = moment - EPOCH
    return str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def key_moment(key: str) -> datetime:
    """The moment of a `moment_key`; a 400 if it lies outside the years 1970-9999."""
    microseconds = int(key)
    if microseconds > MOMENT_KEY_MAX:
        raise not_a_cursor()
    return EPOCH + timedelta(microseconds=microseconds)


def moment_id_cursor(kind: str, row: Row) -> str:
    """The cursor after `row` in a list ordered by (`created_at`, `id`) (a text or number id)."""
    return encode_cursor(kind, moment_key(row["created_at"]), str(row["id"]))


def moment_id_page(
    model: type[PageModel],
    rows: Sequence[Any],
    query: LedgerQuery,
    page_size: int,
    kind: str,
    item_of: Callable[[Any], Any],
) -> PageModel:
    """A page of a list ordered by (`created_at`, `id`), from the rows a statement read for it
    (one more than the page: `page_items`), with the cursor after its last item if there is
    more."""
    rows, has_more = page_items(rows, page_size)
    return model(
        items=[item_of(row) for row in rows],
        page=query.page,
        page_size=page_size,
        has_more=has_more,
        next_cursor=moment_id_cursor(kind, rows[-1]) if has_more else None,
    )


def cursor_bound(cursor: str | None, kind: str) -> tuple[datetime, str] | None:
    """The (time, id) a cursor of a list ordered by (`created_at`, `id`) names; None without
    one."""
    if cursor is None:
        return None
    moment, item_id = decode_cursor(cursor, kind, NUMBER_KEY, ID_KEY)
    return key_moment(moment), item_id


LATEST = datetime.max.replace(tzinfo=UTC)
EARLIEST = datetime.min.replace(tzinfo=UTC)
Bound = tuple[datetime, Any]  # (created_at, id)


def page_start(
    window: tuple[datetime | None, datetime | None],
    after: Bound | None,
    newest_first: bool,
    lowest_id: object,
) -> tuple[Bound, datetime | None]:
    """Where a page of a list ordered by (`created_at`, `id`) starts, and where it stops: the
    page reads the items past one (created_at, id) bound, the cursor's `after` or the window's
    edge on that side, whichever is nearer, and stops at the window's other edge (None: none).
    Two bounds on one side would not both start the index's range: a `from` beside a cursor
    scanned every item up to the cursor (docs/decisions/0024-one-index-of-entries-by-wallet.md).
    `lowest_id` is below every id, so that (created_at, id) > (from, lowest_id) is
    created_at >= from, and (created_at, id) < (to, lowest_id) is created_at < to."""
    window_from, window_to = window
    if newest_first:
        start = (window_to or LATEST, lowest_id)
        return (start if after is None else min(start, after)), window_from
    start = (window_from or EARLIEST, lowest_id)
    return (start if after is None else max(start, after)), window_to
