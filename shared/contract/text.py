"""The characters caller-chosen text may hold: one validator for the ids, names and descriptions
of the HTTP bodies and paths and of the queue messages, so that what the gateway refuses an
internal publisher cannot slip in.

Refused everywhere: C0 and C1 control characters (U+0000-U+001F, U+007F-U+009F), the line and
paragraph separators U+2028/U+2029, the bidirectional embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069: text shown after them can read in another order than stored,
as in "Trojan Source") and lone surrogates (not Unicode, and not encodable as UTF-8).
Ids also refuse the direction marks U+200E, U+200F and U+061C: an id is matched exactly and
has no text around it to steer, so a mark in one could only make two ids look alike. Names
keep the marks, which text mixing right-to-left and left-to-right words needs to display
right and which reorder nothing beyond their neighbours. Descriptions are names that may also
hold tab, line feed and carriage return. Other invisible characters (zero-width space and
joiner, U+FEFF) are accepted: emoji sequences and several scripts need them."""

from __future__ import annotations

import re

_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_SEPARATORS = r"\u2028\u2029"
_BIDI_CONTROLS = r"\u202a-\u202e\u2066-\u2069"
_BIDI_MARKS = r"\u061c\u200e\u200f"
_SURROGATES = r"\ud800-\udfff"
# Tab, line feed and carriage return are left out.
_CONTROLS_BUT_LAYOUT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"

_ID_REFUSED = _CONTROLS + _SEPARATORS + _BIDI_CONTROLS + _BIDI_MARKS
_NAME_REFUSED = _CONTROLS + _SEPARATORS + _BIDI_CONTROLS
_DESCRIPTION_REFUSED = _CONTROLS_BUT_LAYOUT + _SEPARATORS + _BIDI_CONTROLS

# The same rules as JSON Schema patterns, for the OpenAPI document. They leave out the lone
# surrogates: JSON Schema names ECMA-262 regular expressions, which without their `u` flag see
# a character above U+FFFF as two surrogates, so a surrogate range would refuse every emoji.
ID_PATTERN = f"^[^{_ID_REFUSED}]*$"
NAME_PATTERN = f"^[^{_NAME_REFUSED}]*$"
DESCRIPTION_PATTERN = f"^[^{_DESCRIPTION_REFUSED}]*$"

_ID = re.compile(f"[{_ID_REFUSED}{_SURROGATES}]")
_NAME = re.compile(f"[{_NAME_REFUSED}{_SURROGATES}]")
_DESCRIPTION = re.compile(f"[{_DESCRIPTION_REFUSED}{_SURROGATES}]")


def check_id(value: str) -> str:
    """`value` if it may be a caller-chosen id (a customer id, a referenceId), else ValueError
    naming the first refused character."""
    return _checked(_ID, value)


def check_name(value: str) -> str:
    """`value` if it may be a name shown to users, else ValueError naming the first refused
    character."""
    return _checked(_NAME, value)


def check_description(value: str) -> str:
    """`value` if it may be a description (a name that may span lines), else ValueError naming
    the first refused character."""
    return _checked(_DESCRIPTION, value)


def _checked(refused: re.Pattern[str], value: str) -> str:
    found = refused.search(value)
    if found is None:
        return value
    character = ord(found.group())
    if 0xD800 <= character <= 0xDFFF:
        raise ValueError("must be valid Unicode (no lone surrogates)")
    raise ValueError(f"must not contain U+{character:04X} ({_kind(character)})")


def _kind(character: int) -> str:
    if character <= 0x9F:
        return "a control character"
    if character in (0x2028, 0x2029):
        return "a line or paragraph separator"
    if character in (0x061C, 0x200E, 0x200F):
        return "an invisible bidirectional mark"
    return "a bidirectional control"
