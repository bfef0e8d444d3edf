"""Query strings and request bodies as the API reads them, from Python arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic.alias_generators import to_camel

from cloudwallet_client.models import BaseOperation

Moment = int | datetime


def epoch_ms(moment: Moment) -> int:
    """An instant as the API's query strings take it: epoch milliseconds (an aware datetime,
    or an integer already in milliseconds)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("give an aware datetime (with a time zone)")
        return int(moment.timestamp() * 1000)
    return moment


def query(**values: Any) -> dict[str, str]:
    """A list's query string: None left out, names in camelCase, `from_` as `from`, instants
    in epoch ms, and metadata as `metadata[key]=value`."""
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name == "metadata":
            params.update({f"metadata[{key}]": text for key, text in value.items()})
        elif name in ("from_", "to", "at"):
            params[name.rstrip("_")] = str(epoch_ms(value))
        else:
            params[to_camel(name)] = str(value).lower() if isinstance(value, bool) else str(value)
    return params


def body(**values: Any) -> dict[str, Any]:
    """A request body: None left out, names in camelCase."""
    return {to_camel(name): value for name, value in values.items() if value is not None}


def operations_json(operations: Iterable[BaseOperation | Mapping[str, Any]]) -> list[Any]:
    """Operations as a submission carries them: models (`Transfer(...)`) or plain dicts."""
    return [op.to_json() if isinstance(op, BaseOperation) else dict(op) for op in operations]
