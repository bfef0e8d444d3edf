"""Filtered lists: a SELECT made of the conditions of the filters a request gives, and only
those. Each condition is a constant fragment of this code whose values travel as parameters
(never formatted into the text), so a list has one statement per combination of filters, each
planned on the index that suits it; a statement with every filter written as `($n IS NULL OR
...)` would be planned once, generically, for all of them (docs/decisions/0019-search-and-
filters.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.errors import InvariantViolation

# The most parameters a statement takes: a bound on the fragments one list may add.
PARAMETERS_MAX = 32


class Select:
    """`SELECT ... WHERE` with conditions added one by one; `$` in a fragment stands for the
    next parameter, taken from the values given with it, in order (no fragment holds a `$` of
    its own)."""

    def __init__(self, head: str, *values: Any) -> None:
        self.arguments: list[Any] = []
        self._parts = [self._numbered(head, values)]

    def where(self, fragment: str, *values: Any) -> Select:
        """Add `AND fragment`."""
        self._parts.append(self._numbered(fragment, values))
        return self

    def window(self, column: str, moments: tuple[datetime | None, datetime | None]) -> Select:
        """`from` (inclusive) and `to` (exclusive) on `column`, when given."""
        start, end = moments
        if start is not None:
            self.where(f"{column} >= $", start)
        if end is not None:
            self.where(f"{column} < $", end)
        return self

    def statement(self, tail: str, *values: Any) -> tuple[str, list[Any]]:
        """The statement ending with `tail` (its ORDER BY, LIMIT and OFFSET), and its
        arguments."""
        ending = self._numbered(tail, values)
        return " AND ".join(self._parts) + " " + ending, self.arguments

    def _numbered(self, fragment: str, values: tuple[Any, ...]) -> str:
        """`fragment` with each `$` numbered after the parameters already taken."""
        pieces = fragment.split("$")
        if len(pieces) - 1 != len(values):
            raise InvariantViolation(f"{fragment!r} does not take {len(values)} values")
        if len(self.arguments) + len(values) > PARAMETERS_MAX:
            raise InvariantViolation(f"a statement takes at most {PARAMETERS_MAX} parameters")
        text = pieces[0]
        for value, piece in zip(values, pieces[1:], strict=True):
            self.arguments.append(value)
            text += f"${len(self.arguments)}{piece}"
        return text
