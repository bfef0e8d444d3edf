"""The Python SDK (sdk/) agrees with the server: each of its models has the properties the
OpenAPI document gives the schema of the same name, required where the document requires them,
every operation of the document has a method of the client (but the `/currencies` aliases of
the asset routes), and the synchronous client is what `sdk/tools/unasync.py` generates from
the asynchronous one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from cloudwallet_client import AsyncClient, Client, models
from gateway.openapi.document import build_openapi
from gateway.routes import ROUTES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# The document's schema of each SDK model, where the names differ.
SCHEMA_OF = {
    "HoldState": "Hold",
    "Transfer": "TransferOperationResult",
    "Issue": "IssueOperationResult",
    "Redeem": "RedeemOperationResult",
    "Hold": "HoldOperationResult",
    "Capture": "CaptureOperationResult",
    "Void": "VoidOperation",
    "Expire": "ExpireOperation",
}
PAGES = (
    "ProjectPage",
    "AssetPage",
    "CustomerPage",
    "WalletCursorPage",
    "EntryPage",
    "KeyPage",
    "WebhookPage",
    "WebhookDeliveryPage",
)
MODELS = [
    model
    for model in vars(models).values()
    if isinstance(model, type)
    and issubclass(model, BaseModel)
    and model.__module__ == models.__name__
    and model.__name__ not in ("Model", "BaseOperation", "Page", "ErrorDetail")
]
# Operations of the document by the SDK method that serves them.
METHOD_OF = {
    "health": "health",
    "ready": "ready",
    "metrics": "metrics",
    "openapi": "openapi",
    "docs": "docs_page",
    "issueToken": "issue_token",
    "submitReversal": "reverse_transaction",
    "upsertCustomer": "upsert_customer",
    "putCustomer": "put_customer",
}
ALIASES = {"getCurrency", "renameCurrency", "deleteCurrency"}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return dict(build_openapi(ROUTES, Settings())["components"]["schemas"])


def wire_names(model: type[BaseModel]) -> tuple[set[str], set[str]]:
    names, required = set(), set()
    for name, field in model.model_fields.items():
        wire = field.alias or name
        names.add(wire)
        if field.is_required():
            required.add(wire)
    return names, required


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_each_model_has_the_documented_properties(
    schemas: dict[str, Any], model: type[BaseModel]
) -> None:
    schema = schemas[SCHEMA_OF.get(model.__name__, model.__name__)]
    names, required = wire_names(model)
    assert names == set(schema["properties"])
    # What the SDK requires the server always writes (it may read more leniently).
    assert required <= set(schema.get("required", ())) | {"type"}


@pytest.mark.parametrize("page", PAGES)
def test_pages_have_the_documented_properties(schemas: dict[str, Any], page: str) -> None:
    names, _ = wire_names(models.Page[models.Asset])
    documented = set(schemas[page]["properties"])
    assert documented <= names and names - documented <= {"nextCursor"}


def snake(operation_id: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation_id)


@pytest.mark.parametrize("client", [Client, AsyncClient])
def test_every_operation_has_a_method(client: type) -> None:
    missing = [
        route.endpoint.operation_id
        for route in ROUTES
        if route.endpoint.operation_id not in ALIASES
        and not hasattr(
            client, METHOD_OF.get(route.endpoint.operation_id, snake(route.endpoint.operation_id))
        )
    ]
    assert missing == []


def test_the_synchronous_client_is_generated_from_the_asynchronous_one() -> None:
    command = [sys.executable, str(ROOT / "sdk" / "tools" / "unasync.py"), "--check"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
