"""Every request body the docs show (`$ curl ... --json` in README.md and docs/api.md) is one
the document describes and the gateway's model accepts, shell variables standing for ids: the
same bodies `make clients` type-checks against openapi-typescript's types, here against the
JSON schemas themselves (patterns and enums included)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest

from gateway.openapi.document import build_openapi
from gateway.routes import ROUTES
from shared.settings import Settings
from tests.clients.readme_bodies import Body, bodies

DOCUMENT = build_openapi(ROUTES, Settings())
FOUND = bodies(DOCUMENT)
AN_ID = "01JD3ZQ6M2X8Y4TNK7V5B9RCEW"


def with_ids(value: Any) -> Any:
    """`value` with each shell variable (`$W`) replaced by an id of the service's shape."""
    return json.loads(re.sub(r"\$[A-Z]+", AN_ID, json.dumps(value)))


def test_the_docs_show_bodies() -> None:
    sources = {body.source.split(":")[0] for body in FOUND}
    assert sources == {"README.md", "docs/api.md"}
    assert len(FOUND) >= 15


@pytest.mark.parametrize("body", FOUND, ids=lambda body: body.source)
def test_each_body_is_described_and_accepted(body: Body) -> None:
    route = next(r for r in ROUTES if (r.path, r.method.lower()) == (body.template, body.method))
    schema = DOCUMENT["paths"][body.template][body.method]["requestBody"]["content"]
    validator = jsonschema_rs.Draft202012Validator(
        schema["application/json"]["schema"] | {"components": DOCUMENT["components"]}
    )
    value = with_ids(body.value)
    assert validator.is_valid(value), list(validator.iter_errors(value))
    assert route.endpoint.body is not None
    route.endpoint.body.model_validate(value)
