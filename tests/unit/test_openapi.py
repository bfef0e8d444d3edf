"""The OpenAPI document and the docs page, generated from the route table: every route is in
it with its parameters, an example on every operation that validates against the models that
serve it, error codes per status, security, links that resolve, limits from the settings, and
request bodies it admits exactly when the gateway's parsing and validation do (checked with the
JSON Schema validator schemathesis uses, at the boundaries and on generated values)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from gateway.http import decode_json, validate
from gateway.openapi import examples
from gateway.openapi.docs_page import render_docs
from gateway.openapi.document import REF, body_examples, build_openapi
from gateway.openapi.endpoint import ERROR_STATUS, Route
from gateway.requests import CreateAsset
from gateway.responses import Transaction
from gateway.routes import ROUTES
from shared.contract.messages import AMOUNT_DIGITS_MAX, SubmitTransaction
from shared.core.ledger import AMOUNT_MAX
from shared.errors import ValidationFailed
from shared.settings import Settings

SETTINGS = Settings(page_size_max=200, page_size_default=20, reference_id_length_max=64)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi(ROUTES, SETTINGS)


def spec_of(document: dict[str, Any], route: Route) -> dict[str, Any]:
    return dict(document["paths"][route.path][route.method.lower()])


def test_every_route_is_documented_once_and_nothing_else(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    assert documented == {(route.method, route.path) for route in ROUTES}
    assert len(documented) == len(ROUTES)
    ids = [spec_of(document, route)["operationId"] for route in ROUTES]
    assert len(ids) == len(set(ids))
    assert document["openapi"] == "3.1.0"


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.endpoint.operation_id)
def test_each_operation_has_examples_that_the_models_accept(
    document: dict[str, Any], route: Route
) -> None:
    spec = spec_of(document, route)
    operation = route.endpoint
    success = spec["responses"][str(operation.status)]
    if operation.status != 204:
        media = next(iter(success["content"].values()))
        assert media.get("example") is not None
        if operation.response is not None:
            operation.response.model_validate(media["example"])
    if operation.body is not None:
        for example in body_examples(spec["requestBody"]["content"]["application/json"]):
            operation.body.model_validate(example)
    assert [p["name"] for p in spec["parameters"] if p["in"] == "path"] == (route.path_parameters())
    assert all("example" in p for p in spec["parameters"] if p["in"] == "path")
    assert operation.summary and operation.tag


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.endpoint.operation_id)
def test_error_responses_list_their_codes(document: dict[str, Any], route: Route) -> None:
    spec = spec_of(document, route)
    for code in route.error_codes():
        response = spec["responses"][str(ERROR_STATUS[code])]
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": REF.format(model="ErrorBody")}
        assert code in response["x-error-codes"]
    for status, response in spec["responses"].items():
        if "x-error-codes" in response:
            codes = response["x-error-codes"]
            assert codes == [c for c in route.error_codes() if str(ERROR_STATUS[c]) == status]
    if not route.endpoint.public:
        assert {"400", "401", "503"} <= set(spec["responses"]) or not route.path_parameters()
        assert "Retry-After" in spec["responses"]["503"]["headers"]


def test_security_schemes_and_public_routes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["apiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    flow = schemes["oauth2ClientCredentials"]["flows"]["clientCredentials"]
    assert schemes["oauth2ClientCredentials"]["type"] == "oauth2"
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == {"full", "read", "customer"}
    assert document["security"] == [
        {"bearerAuth": []},
        {"apiKeyAuth": []},
        {"oauth2ClientCredentials": []},
    ]
    public = {route.path for route in ROUTES if route.endpoint.public}
    assert public == {"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/oauth/token"}
    for route in ROUTES:
        assert ("security" in spec_of(document, route)) == route.endpoint.public


def test_links_name_existing_operations_and_parameters(document: dict[str, Any]) -> None:
    by_id = {spec_of(document, route)["operationId"]: route for route in ROUTES}
    link_count = 0
    for route in ROUTES:
        for response in spec_of(document, route)["responses"].values():
            for link in response.get("links", {}).values():
                link_count += 1
                target = by_id[link["operationId"]]
                assert set(link["parameters"]) == set(target.path_parameters())
                for expression in link["parameters"].values():
                    assert re.fullmatch(r"\$(response\.body#/id|request\.path\.\w+)", expression)
                if "requestBody" in link:
                    assert target.endpoint.body is not None
                    assert set(link["requestBody"]) <= set(
                        target.endpoint.body.model_json_schema(by_alias=True)["properties"]
                    )
    assert link_count >= 20


def test_limits_come_from_the_settings(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["SubmitTransaction"]["properties"]["referenceId"]["maxLength"] == 64
    assert schemas["SubmitTransaction"]["properties"]["operations"]["maxItems"] == 100
    listing = document["paths"]["/projects"]["get"]["parameters"]
    page_size = next(p for p in listing if p["name"] == "pageSize")["schema"]
    assert (page_size["maximum"], page_size["default"], page_size["minimum"]) == (200, 20, 1)


def test_amounts_read_strings_or_integers_and_write_strings(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    written = schemas["Wallet"]["properties"]["balance"]
    assert written["type"] == "string"
    read = schemas["IssueOperation"]["properties"]["amount"]["anyOf"]
    assert {branch["type"] for branch in read} == {"string", "integer"}
    assert schemas["IssueOperationResult"]["properties"]["amount"]["type"] == "string"


def documented(document: dict[str, Any], model: str) -> jsonschema_rs.Validator:
    schema = {"$ref": REF.format(model=model), "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def gateway_accepts(model: type[BaseModel], body: dict[str, Any]) -> bool:
    """Whether the gateway takes `body` as `model`: its JSON decoding, then the model with the
    limits of SETTINGS."""
    context = {"reference_id_length_max": SETTINGS.reference_id_length_max}
    try:
        validate(model, decode_json(json.dumps(body).encode()), context)
    except ValidationFailed:
        return False
    return True


def amount_agrees(document: dict[str, Any], amount: object) -> None:
    body = {"referenceId": "r1", "operations": [{"type": "Issue", "to": "w1", "amount": amount}]}
    assert documented(document, "SubmitTransaction").is_valid(body) == gateway_accepts(
        SubmitTransaction, body
    ), amount


MAX = str(AMOUNT_MAX)


@pytest.mark.parametrize(
    "amount",
    [
        *("1", "0", "007", "9" * 38, "1" + "0" * 38, "2" + "0" * 38, "9" * 39),
        *("0" * 38 + "1", "0" * 39 + "1", "0" + "9" * 38, "00" + "9" * 38),
        *(MAX, str(AMOUNT_MAX - 1), str(AMOUNT_MAX + 1), "0" + MAX, MAX[:-2] + "30"),
        *(MAX[:30] + "9" + MAX[31:], MAX[:30] + "0" + MAX[31:], "1" + MAX[1:].replace("1", "0")),
        *(1, 0, -1, AMOUNT_MAX, AMOUNT_MAX + 1),
    ],
)
def test_documented_amounts_are_the_accepted_ones_at_the_boundaries(
    document: dict[str, Any], amount: object
) -> None:
    amount_agrees(document, amount)


def near(text: str) -> st.SearchStrategy[str]:
    """Strings of digits like `text`: one digit changed, and leading zeros added."""
    changed = st.builds(
        lambda index, digit: text[:index] + digit + text[index + 1 :],
        st.integers(0, len(text) - 1),
        st.sampled_from("0123456789"),
    )
    return st.builds(lambda zeros, digits: "0" * zeros + digits, st.integers(0, 2), changed)


@given(
    st.one_of(
        st.text("0123456789", max_size=AMOUNT_DIGITS_MAX + 2),
        near(MAX),
        near("9" * (AMOUNT_DIGITS_MAX - 1)),
        st.integers(AMOUNT_MAX - 10**6, AMOUNT_MAX + 10**6).map(str),
        st.integers(-1, 2**128),
    )
)
def test_documented_amounts_are_the_accepted_ones(document: dict[str, Any], amount: object) -> None:
    amount_agrees(document, amount)


@pytest.mark.parametrize(
    "change",
    [
        {},
        *({"fractions": value} for value in (0, 1, 10**18, 10**18 + 1, -1)),
        *({"code": value} for value in ("", "A" * 16, "A" * 17, "a.b_c-9", "a b", "\u00e9")),
        *({"name": value} for value in ("", "x" * 200, "x" * 201, "tab\there", "\u00e9\U0001f600")),
    ],
)
def test_documented_assets_are_the_accepted_ones(
    document: dict[str, Any], change: dict[str, Any]
) -> None:
    body = {"name": "Points", "code": "PTS", "fractions": 100} | change
    assert documented(document, "CreateAsset").is_valid(body) == gateway_accepts(CreateAsset, body)


def test_the_document_says_integers_take_no_fraction_which_json_schema_cannot(
    document: dict[str, Any],
) -> None:
    # JSON Schema counts 100.0 as the integer 100 and has no keyword that tells the spellings
    # apart; the gateway refuses any fraction or exponent, as the design asks. So the document
    # says it in words, where a reader of the schema looks.
    body = {"name": "Points", "code": "PTS", "fractions": 100.0}
    assert documented(document, "CreateAsset").is_valid(body)
    assert not gateway_accepts(CreateAsset, body)
    schemas = document["components"]["schemas"]
    amount = schemas["IssueOperation"]["properties"]["amount"]["description"]
    fractions = schemas["CreateAsset"]["properties"]["fractions"]["description"]
    for description in (document["info"]["description"], amount, fractions):
        assert "without a fraction or an exponent" in description


def test_the_docs_page_shows_every_operation_and_needs_nothing_from_outside(
    document: dict[str, Any],
) -> None:
    page = render_docs(document)
    for route in ROUTES:
        assert f'id="{route.endpoint.operation_id}"' in page
        assert route.path in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "AssetInUse" in page and "InvalidStatusTransition" in page


def test_submit_examples_show_each_operation_on_holds(document: dict[str, Any]) -> None:
    route = next(route for route in ROUTES if route.endpoint.operation_id == "submitTransaction")
    media = spec_of(document, route)["requestBody"]["content"]["application/json"]
    kinds = {op["type"] for body in body_examples(media) for op in body["operations"]}
    assert {"Hold", "Capture", "Void"} <= kinds
    assert "Expire" not in kinds
    assert "&quot;type&quot;: &quot;Capture&quot;" in render_docs(document)


HOLD = {"type": "Hold", "from": "w1", "to": "w2", "amount": "5", "timeoutS": 60}


@pytest.mark.parametrize(
    "operation",
    [
        HOLD | {"holdId": "t1-0"},
        {"type": "Expire", "holdId": "t1-0"},
        HOLD | {"timeoutS": 0},
        HOLD | {"timeoutS": 31_536_001},
        {"type": "Capture"},
        {"type": "Void", "holdId": "t1-0", "amount": "5"},
    ],
)
def test_documented_requests_refuse_what_only_responses_show(
    document: dict[str, Any], operation: dict[str, Any]
) -> None:
    body = {"referenceId": "r1", "operations": [operation]}
    assert not documented(document, "SubmitTransaction").is_valid(body)
    assert not gateway_accepts(SubmitTransaction, body)


def test_documented_transactions_show_hold_ids_and_expiries(document: dict[str, Any]) -> None:
    body = {
        "id": "t1",
        "referenceId": "r1",
        "status": "Completed",
        "operations": [
            HOLD | {"holdId": "t1-0"},
            {"type": "Hold", "from": "w1", "amount": "5", "holdId": "t1-1"},
            {"type": "Capture", "holdId": "t0-0"},
            {"type": "Capture", "holdId": "t0-1", "amount": "2"},
            {"type": "Void", "holdId": "t0-2"},
            {"type": "Expire", "holdId": "t0-3"},
        ],
        "metadata": {},
        "createdAt": "2025-01-31T12:00:00.000Z",
        "completedAt": "2025-01-31T12:00:00.042Z",
    }
    assert documented(document, "Transaction").is_valid(body)
    assert (
        Transaction.model_validate(body).to_json()
        == json.dumps(body, separators=(",", ":")).encode()
    )


def test_the_holds_list_documents_its_filters(document: dict[str, Any]) -> None:
    parameters = document["paths"]["/projects/{projectId}/holds"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter["schema"] for parameter in parameters}
    assert by_name["status"]["enum"] == ["Pending", "Captured", "Voided", "Expired"]
    assert by_name["walletId"]["pattern"] == "^[A-Za-z0-9_-]+$"
    assert {"page", "pageSize", "from", "to", "order", "cursor"} <= set(by_name)
    wallet = document["components"]["schemas"]["Wallet"]["properties"]
    assert wallet["heldBalance"]["type"] == wallet["availableBalance"]["type"] == "string"


def test_authenticated_answers_document_the_rate_limit_headers(document: dict[str, Any]) -> None:
    for route in ROUTES:
        for status, response in spec_of(document, route)["responses"].items():
            headers = set(response.get("headers", {}))
            limited = not route.endpoint.public and status != "401"
            assert ({"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= headers) == (
                limited
            ), (route.endpoint.operation_id, status)


def test_the_token_endpoint_takes_a_form_and_answers_rfc_6749_errors(
    document: dict[str, Any],
) -> None:
    spec = document["paths"]["/oauth/token"]["post"]
    form = spec["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["properties"]["grant_type"]["enum"] == ["client_credentials"]
    for status in ("400", "401"):
        schema = spec["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/OAuthError"}
    assert "OAuthError" in document["components"]["schemas"]


def test_each_shape_has_a_name_of_its_own_for_generators(document: dict[str, Any]) -> None:
    # Generators name a model by its title: two schemas of one title (pydantic's -Input and
    # -Output copies of a model) made openapi-python-client drop Transaction (issue 27).
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        assert re.fullmatch(r"[A-Z][A-Za-z]+", name), name
        assert schema.get("title", name) == name
    operation = schemas["Transaction"]["properties"]["operations"]["items"]["oneOf"]
    shown = {item["$ref"].rsplit("/", 1)[1] for item in operation}
    assert {"TransferOperationResult", "IssueOperationResult", "RedeemOperationResult"} <= shown
    submitted = schemas["SubmitTransaction"]["properties"]["operations"]["items"]["oneOf"]
    assert {"TransferOperation", "IssueOperation"} <= {
        i["$ref"].rsplit("/", 1)[1] for i in submitted
    }


def test_optional_fields_carry_no_default_and_absent_ones_no_null(
    document: dict[str, Any],
) -> None:
    # openapi-typescript makes a property with a default required (issue 27): the default is
    # said in the description instead.
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        for property_name, property_schema in schema.get("properties", {}).items():
            assert "default" not in property_schema, (name, property_name)
    wallet = schemas["OpenWallet"]
    assert wallet["required"] == ["customerId", "assetId"]
    assert 'default: ""' in wallet["properties"]["name"]["description"]
    transaction = schemas["Transaction"]
    assert {"metadata", "operations", "createdAt"} <= set(transaction["required"])
    assert not {"failure", "completedAt", "reversalOf"} & set(transaction["required"])
    # Left out when there is none, never null.
    assert transaction["properties"]["failure"] == {"$ref": REF.format(model="TransactionFailure")}
    assert transaction["properties"]["completedAt"]["type"] == "string"
    # A request may send null for an optional field, and the gateway takes it.
    assert {"type": "null"} in schemas["UpsertCustomer"]["properties"]["name"]["anyOf"]


def test_one_typed_error_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ErrorCode"]["enum"] == list(ERROR_STATUS)
    error = schemas["ErrorDetail"]["properties"]
    assert error["code"] == {"$ref": REF.format(model="ErrorCode")}
    details = schemas["ErrorDetails"]["properties"]
    assert details["transaction"]["$ref"] == REF.format(model="Transaction")
    assert details["requestMatches"]["type"] == "boolean"
    assert details["fields"]["items"] == {"$ref": REF.format(model="FieldError")}
    duplicate = {
        "error": {
            "code": "DuplicateReferenceId",
            "message": "referenceId order-1 is already used in this project",
            "details": {"requestMatches": True, "transaction": dump_transaction()},
        }
    }
    assert documented(document, "ErrorBody").is_valid(duplicate)
    assert not documented(document, "ErrorBody").is_valid(
        {"error": {"code": "NoSuchCode", "message": "x"}}
    )


def dump_transaction() -> dict[str, Any]:
    return dict(examples.dump(examples.TRANSACTION))


def test_tags_descriptions_license_and_contact(document: dict[str, Any]) -> None:
    tags = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert all(tags.values())
    for route in ROUTES:
        spec = spec_of(document, route)
        assert spec["tags"][0] in tags
        assert spec["description"] and spec["description"] != spec["summary"]
    assert {route.endpoint.tag for route in ROUTES} == set(tags)
    assert document["info"]["license"] == {"name": "Apache-2.0", "identifier": "Apache-2.0"}
    assert document["info"]["contact"] == {"name": "cloudwallet operators"}
    operator = Settings(
        api_contact_url="https://ops.example.com", api_contact_email="ops@example.com"
    )
    assert build_openapi(ROUTES, operator)["info"]["contact"] == {
        "name": "cloudwallet operators",
        "url": "https://ops.example.com",
        "email": "ops@example.com",
    }
