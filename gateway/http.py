"""Request parsing and response writing shared by every handler."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.keys import OPERATION
from gateway.queries import single_values
from gateway.schemas import Out
from shared.errors import ValidationFailed, invariant

Model = TypeVar("Model", bound=BaseModel)


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
    """Read, parse and validate the body as `model`, the body the route's operation declares;
    any failure is a 400 naming the fields. An optional body may be empty."""
    operation = request[OPERATION]
    invariant(operation.body is model, f"{operation.operation_id} does not declare {model}")
    raw = await request.read()
    if not raw:
        return validate(model, None if operation.body_required else {}, context)
    _check_content_type(request)
    return validate(model, decode_json(raw), context)


def read_query(
    request: web.Request, model: type[Model], context: dict[str, Any] | None = None
) -> Model:
    """Validate the query string as `model`, the query the route's operation declares."""
    operation = request[OPERATION]
    invariant(operation.query is model, f"{operation.operation_id} does not declare {model}")
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


def field_errors(error: ValidationError, root: str = "body") -> list[dict[str, str]]:
    """Pydantic's errors as `[{field, message}]`, fields written as `operations[0].amount`."""
    fields = []
    for item in error.errors(include_url=False):
        path = ""
        for part in item["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part not in ("Transfer", "Issue", "Redeem"):
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
