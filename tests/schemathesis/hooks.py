"""Schemathesis hooks for `tests/schemathesis/run.py`, loaded through SCHEMATHESIS_HOOKS.

The seeded run draws the same few asset codes and reference IDs again and again ("0", the
schema's examples, the fixture's own), and a project keeps each one: without this hook nearly
every generated asset and transaction after the first few was a 409 (AssetCodeTaken,
DuplicateReferenceId), so the success path of both operations was rarely reached and
schemathesis reported them as "mostly rejected". `map_body` makes three bodies in four unique
by a suffix, and leaves the fourth as drawn so that repeats still reach the 409s. The suffix
never makes an invalid value valid: it is added only to a non-empty string that stays within
its length limit, and it is made of characters both fields accept."""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis

from gateway.requests import ASSET_CODE_LENGTH_MAX
from shared.settings import Settings

UNIQUE_FIELDS = {  # (method, path) -> (field, length limit)
    ("POST", "/projects/{projectId}/assets"): ("code", ASSET_CODE_LENGTH_MAX),
    ("POST", "/projects/{projectId}/transactions"): (
        "referenceId",
        Settings.default_of("reference_id_length_max"),
    ),
}
LEFT_AS_DRAWN_EVERY = 4
_drawn = itertools.count(1)


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    operation = context.operation
    unique = UNIQUE_FIELDS.get((operation.method.upper(), operation.path))
    if unique is None or not isinstance(body, dict):
        return body
    number = next(_drawn)
    field, length_max = unique
    value = body.get(field)
    suffix = f"-{number}"
    if number % LEFT_AS_DRAWN_EVERY == 0 or not isinstance(value, str) or not value:
        return body
    if len(value) + len(suffix) > length_max:
        return body
    return {**body, field: value + suffix}
