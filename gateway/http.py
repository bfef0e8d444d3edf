"""Request parsing and response writing shared by every handler."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.app_keys import ENDPOINT, SETTINGS
from gateway.query_strings import single_values
from gateway.responses import Out
from shared.errors import (
    InvariantViolation,
    UnsupportedMediaType,
    ValidationFailed,
    invariant,
)
from shared.settings import Settings

Model = TypeVar("Model", bound=BaseModel)

# A repeated key is named in the answer; a longer key is cut to this many characters there.
KEY_SHOWN_CHARACTERS_MAX = 64
_UTF8_BOM = b"\xef\xbb\xbf"
# JSON is UTF-8 (RFC 8259); "utf8" is a common misspelling of the same encoding.
JSON_CHARSETS = frozenset({"utf-8", "utf8"})


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"repeated key {key!r}")
        self.key = key


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _refuse_float(text: str) -> Any:
    raise ValueError("numbers with a fraction or an exponent are not allowed")


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise InvariantViolation("no key is repeated")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _RepeatedKey(_first_repeated(pairs))
    return value


# One decoder for every body: building one per call would cost more than a small body's parse.
# The standard parser keeps integers of any width exact and lets us refuse what orjson would
# read (floats, NaN, Infinity, repeated keys).
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_refuse_float, parse_constant=_refuse_constant
)


def decode_json(raw: bytes, depth_max: int = Settings.default_of("json_depth_max")) -> Any:
    """Parse a UTF-8 JSON body (a leading byte order mark is ignored). Refuse floats,
    exponents, NaN and Infinity, a key repeated in an object, and objects and arrays nested
    more than `depth_max` deep, each with a 400 naming the field; integers stay exact."""
    try:
        text = (raw[3:] if raw.startswith(_UTF8_BOM) else raw).decode()
        value = _DECODER.decode(text)
    except _RepeatedKey as error:
        raise _repeated_key_error(text, error.key) from None
    except RecursionError:
        # The parser recurses once per level; past Python's recursion limit it stops here.
        raise _too_deep(depth_max) from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError and the refusals
        raise ValidationFailed(
            "the body is not valid JSON",
            details={"fields": [{"field": "body", "message": str(error)}]},
        ) from None
    # A body can nest no deeper than it has brackets: most bodies need no walk at all.
    if raw.count(b"{") + raw.count(b"[") > depth_max and _nests_deeper(value, depth_max):
        raise _too_deep(depth_max)
    return value


def _nests_deeper(value: Any, depth_max: int) -> bool:
    """Whether `value` holds objects and arrays more than `depth_max` levels deep, walked one
    level at a time (no recursion, at most `depth_max` levels)."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(depth_max):
        level = [
            child
            for container in level
            for child in (container.values() if type(container) is dict else container)
            if type(child) in _CONTAINERS
        ]
        if not level:
            return False
    return True


_CONTAINERS = (dict, list)


def _too_deep(depth_max: int) -> ValidationFailed:
    return ValidationFailed(
        "the body nests too deeply",
        details={
            "fields": [
                {"field": "body", "message": f"must not nest more than {depth_max} levels deep"}
            ]
        },
    )


def _repeated_key_error(text: str, key: str) -> ValidationFailed:
    shown = key if len(key) <= KEY_SHOWN_CHARACTERS_MAX else key[:KEY_SHOWN_CHARACTERS_MAX] + "..."
    field = _repeated_key_path(text) or "body"
    return ValidationFailed(
        "the body repeats a key",
        details={"fields": [{"field": field, "message": f"repeats the key {shown!r}"}]},
    )


class _Pairs(list[tuple[str, Any]]):
    """An object of a body as its pairs, in order, with the key it repeats (if it is the first
    object found to repeat one)."""

    repeated_key: str | None = None


def _repeated_key_path(text: str) -> str | None:
    """Where the first repeated key is, written as `operations[0].amount`: only on this error
    path, the body is parsed again with every object kept whole and the first one to repeat a
    key marked, then walked without recursion."""
    marked: list[_Pairs] = []

    def keep(pairs: list[tuple[str, Any]]) -> _Pairs:
        value = _Pairs(pairs)
        if not marked and len({key for key, _ in pairs}) != len(pairs):
            value.repeated_key = _first_repeated(pairs)
            marked.append(value)
        return value

    try:
        root = json.loads(text, object_pairs_hook=keep, parse_float=str, parse_constant=str)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _Pairs):
            if value.repeated_key is not None:
                return _field(path, value.repeated_key)
            children = [(_field(path, key), child) for key, child in value]
        else:
            children = [(f"{path}[{index}]", child) for index, child in enumerate(value)]
        stack.extend(item for item in children if isinstance(item[1], list))
    return None


def _field(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


async def read_model(
    request: web.Request, model: type[Model], context: dict[str, Any] | None = None
) -> Model:
    """Read, parse and validate the body as `model`, the body the route's endpoint declares;
    any failure is a 400 naming the fields. An optional body may be empty."""
    endpoint = request[ENDPOINT]
    invariant(endpoint.body is model, f"{endpoint.operation_id} does not declare {model}")
    raw = await request.read()
    if not raw:
        return validate(model, None if endpoint.body_required else {}, context)
    _check_content_type(request)
    return validate(model, decode_json(raw, request.app[SETTINGS].json_depth_max), context)


def read_query(
    request: web.Request, model: type[Model], context: dict[str, Any] | None = None
) -> Model:
    """Validate the query string as `model`, the query the route's endpoint declares."""
    endpoint = request[ENDPOINT]
    invariant(endpoint.query is model, f"{endpoint.operation_id} does not declare {model}")
    return validate(model, single_values(request), context, root="query")


def _check_content_type(request: web.Request) -> None:
    if "Content-Type" not in request.headers:
        return
    media_type = request.content_type
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ValidationFailed(
            "the body must be JSON",
            details={"fields": [{"field": "Content-Type", "message": "must be application/json"}]},
        )
    charset = request.charset
    if charset is not None and charset.lower() not in JSON_CHARSETS:
        raise UnsupportedMediaType(
            "the body must be JSON in UTF-8",
            details={"fields": [{"field": "Content-Type", "message": "charset must be utf-8"}]},
        )


def validate(
    model: type[Model], data: Any, context: dict[str, Any] | None = None, *, root: str = "body"
) -> Model:
    """Validate `data` as `model`; any failure is a 400 naming the fields."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ValidationFailed(
            "the request is not valid", details={"fields": field_errors(error, root)}
        ) from None


# The operation types, which pydantic names in the location of an error inside a tagged union.
OPERATION_TAGS = frozenset({"Transfer", "Issue", "Redeem", "Hold", "Capture", "Void", "Expire"})


def field_errors(error: ValidationError, root: str = "body") -> list[dict[str, str]]:
    """Pydantic's errors as `[{field, message}]`, fields written as `operations[0].amount`."""
    fields = []
    for item in error.errors(include_url=False):
        location = item["loc"]
        if root == "query" and len(location) >= 2 and location[0] == "metadata":
            # A metadata filter is named as it was sent: metadata[key].
            fields.append({"field": f"metadata[{location[1]}]", "message": item["msg"]})
            continue
        path = ""
        for part in location:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part not in OPERATION_TAGS:
                path += f".{part}" if path else str(part)
        fields.append({"field": path or root, "message": item["msg"]})
    return fields


def json_response(
    body: Out | Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer: a response model serialized by itself, or plain data."""
    payload = body.to_json() if isinstance(body, Out) else orjson.dumps(body)
    return web.Response(
        body=payload, status=status, content_type="application/json", headers=headers
    )
