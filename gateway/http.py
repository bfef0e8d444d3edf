"""Request parsing and response writing shared by every handler."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from shared.errors import ValidationFailed

Model = TypeVar("Model", bound=BaseModel)
_DIGITS = re.compile(r"[0-9]{1,19}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _refuse_float(text: str) -> Any:
    raise ValueError("numbers with a fraction or an exponent are not allowed")


def decode_json(raw: bytes) -> Any:
    """Parse a JSON body; refuse floats, exponents, NaN and Infinity. orjson is tried first;
    it reads integers wider than 64 bits as floats, so any float sends the body to the
    standard parser, which keeps such integers exact and refuses real fractions."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _decode_strictly(raw)
    return _decode_strictly(raw) if _has_float(value) else value


def _decode_strictly(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=_refuse_float, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValidationFailed(
            "the body is not valid JSON",
            details={"fields": [{"field": "body", "message": str(error)}]},
        ) from None


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    return False


async def read_model(
    request: web.Request, model: type[Model], context: dict[str, Any] | None = None
) -> Model:
    """Read, parse and validate the body as `model`; any failure is a 400 naming the fields."""
    raw = await request.read()
    data = decode_json(raw) if raw else None
    return validate(model, data, context)


def validate(model: type[Model], data: Any, context: dict[str, Any] | None = None) -> Model:
    """Validate `data` as `model`; any failure is a 400 naming the fields."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ValidationFailed(
            "the request is not valid", details={"fields": field_errors(error)}
        ) from None


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as `[{field, message}]`, fields written as `operations[0].amount`."""
    fields = []
    for item in error.errors(include_url=False):
        path = ""
        for part in item["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part not in ("Transfer", "Issue", "Redeem"):
                path += f".{part}" if path else str(part)
        fields.append({"field": path or "body", "message": item["msg"]})
    return fields


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def page_params(
    request: web.Request, *, page_size_default: int, page_size_max: int
) -> tuple[int, int]:
    """`page` (from 1) and `pageSize` (1 to the maximum) from the query string."""
    page = _int_param(request, "page", 1, 1, 10**9)
    page_size = _int_param(request, "pageSize", page_size_default, 1, page_size_max)
    return page, page_size


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ValidationFailed(
            f"{name} must be an integer from {low} to {high}",
            details={"fields": [{"field": name, "message": f"integer from {low} to {high}"}]},
        )
    return int(raw)
