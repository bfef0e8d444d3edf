"""The one validator of caller-chosen text (`shared/contract/text.py`): which characters ids,
names and descriptions refuse, that the HTTP models and the queue messages both use it, and
that the OpenAPI document's patterns admit exactly the text the gateway accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError

from gateway.http import decode_json, validate
from gateway.openapi.document import REF, build_openapi
from gateway.requests import PATH_PARAMETERS, CreateProject, DescribeWallet, UpsertCustomer
from gateway.routes import ROUTES
from shared.contract.messages import SubmitTransaction, TransactionBatchMessage, TransactionMessage
from shared.contract.text import check_description, check_id, check_name
from shared.errors import ValidationFailed
from shared.settings import Settings

C0 = ["\x00", "\x1b", "\x1f", "\x7f"]
C1 = ["\x80", "\x85", "\x9b", "\x9f"]
SEPARATORS = ["\u2028", "\u2029"]
BIDI_CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"]
BIDI_CONTROLS += ["\u2069"]
BIDI_MARKS = ["\u200e", "\u200f", "\u061c"]
LAYOUT = ["\t", "\n", "\r"]
PLAIN = [
    "a",
    "\u00e9",
    "\u00a0",
    "\u05e9\u05dc\u05d5\u05dd",
    "\u65e5\u672c",
    "\U0001f600",
    "\ufeff",
]


def refused_message(check: Any, value: str) -> str:
    with pytest.raises(ValueError) as caught:
        check(value)
    return str(caught.value)


@pytest.mark.parametrize("character", C0 + C1 + SEPARATORS + BIDI_CONTROLS + BIDI_MARKS)
def test_ids_refuse_controls_separators_and_every_bidirectional_character(character: str) -> None:
    message = refused_message(check_id, f"customer{character}42")
    assert f"U+{ord(character):04X}" in message


@pytest.mark.parametrize("character", C0 + C1 + SEPARATORS + BIDI_CONTROLS)
def test_names_refuse_controls_separators_and_bidirectional_controls(character: str) -> None:
    assert f"U+{ord(character):04X}" in refused_message(check_name, f"Ada{character}")


@pytest.mark.parametrize(
    "character", [c for c in C0 if c not in LAYOUT] + C1 + SEPARATORS + BIDI_CONTROLS
)
def test_descriptions_refuse_the_same_but_tab_and_new_lines(character: str) -> None:
    assert f"U+{ord(character):04X}" in refused_message(check_description, f"gold{character}")


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_of_any_script_is_accepted_everywhere(text: str) -> None:
    for check in (check_id, check_name, check_description):
        assert check(f"x{text}y") == f"x{text}y"


def test_names_keep_direction_marks_and_descriptions_keep_layout() -> None:
    for mark in BIDI_MARKS:
        assert (
            check_name(f"\u05e9\u05dc\u05d5\u05dd{mark} 42") == f"\u05e9\u05dc\u05d5\u05dd{mark} 42"
        )
    for layout in LAYOUT:
        assert check_description(f"a{layout}b") == f"a{layout}b"
        assert "control character" in refused_message(check_name, f"a{layout}b")


def test_lone_surrogates_are_refused_everywhere() -> None:
    for check in (check_id, check_name, check_description):
        assert "valid Unicode" in refused_message(check, "a\ud800b")


def test_the_messages_say_what_was_found() -> None:
    assert refused_message(check_id, "a\x85") == "must not contain U+0085 (a control character)"
    assert refused_message(check_id, "a\u2028") == (
        "must not contain U+2028 (a line or paragraph separator)"
    )
    assert refused_message(check_id, "a\u202e") == (
        "must not contain U+202E (a bidirectional control)"
    )
    assert refused_message(check_id, "a\u200f") == (
        "must not contain U+200F (an invisible bidirectional mark)"
    )


def message(**change: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "id": "01JD3ZQ6M2X8Y4TNK7V5B9RCEW",
        "projectId": "01JD3ZQ6M2X8Y4TNK7V5B9RCEX",
        "referenceId": "order-1",
        "operations": [{"type": "Issue", "to": "w1", "amount": "10"}],
        "submittedAt": datetime.now(UTC).isoformat(),
    } | change


@pytest.mark.parametrize("character", ["\x85", "\u2029", "\u202e", "\u2066", "\u200e"])
def test_queue_messages_refuse_what_the_gateway_refuses(character: str) -> None:
    TransactionMessage.model_validate_json(json.dumps(message()))
    for change in ({"referenceId": f"r{character}"}, {"projectId": f"p{character}"}):
        with pytest.raises(ValidationError):
            TransactionMessage.model_validate_json(json.dumps(message(**change)))
        batch = {"v": 1, "transactions": [message(), message(**change)]}
        with pytest.raises(ValidationError):
            TransactionBatchMessage.model_validate_json(json.dumps(batch))
    with pytest.raises(ValidationError):
        SubmitTransaction.model_validate(
            {"referenceId": f"r{character}", "operations": message()["operations"]}
        )
    with pytest.raises(ValidationError):
        PATH_PARAMETERS["customerId"].validate_python(f"c{character}")


DOCUMENT = build_openapi(ROUTES, Settings())


def documented(model: str, body: dict[str, Any]) -> bool:
    schema = {"$ref": REF.format(model=model), "components": DOCUMENT["components"]}
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(body))


def accepted(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        validate(model, decode_json(json.dumps(body).encode()))
    except ValidationFailed:
        return False
    return True


SAMPLES = C0 + C1 + SEPARATORS + BIDI_CONTROLS + BIDI_MARKS + PLAIN


@pytest.mark.parametrize("character", SAMPLES)
def test_the_document_admits_exactly_the_text_the_gateway_accepts(character: str) -> None:
    for model, body in (
        (CreateProject, {"name": f"P{character}"}),
        (UpsertCustomer, {"id": f"c{character}"}),
        (UpsertCustomer, {"id": "c", "name": f"n{character}"}),
        (UpsertCustomer, {"id": "c", "description": f"d{character}"}),
        (DescribeWallet, {"description": f"d{character}"}),
        (
            SubmitTransaction,
            {"referenceId": f"r{character}", "operations": message()["operations"]},
        ),
    ):
        assert documented(model.__name__, body) == accepted(model, body), (model, body)
