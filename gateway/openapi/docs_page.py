"""The human-readable API reference at `/docs`: one self-contained HTML page rendered on the
server from the OpenAPI document (no scripts, no external assets)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from gateway.openapi.document import body_examples

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;margin-top:2em}
section.op{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:1em 0}
.method{display:inline-block;min-width:4.5em;font-weight:bold;color:#fff;border-radius:4px;
text-align:center;margin-right:.5em}.get{background:#2a7ab0}.post{background:#2f9e44}
.put{background:#c77c02}.delete{background:#c92a2a}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;border-radius:4px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .6em;
text-align:left;vertical-align:top}
"""


def render_docs(spec: dict[str, Any]) -> str:
    """The whole page for `spec`."""
    tags = {tag["name"]: tag["description"] for tag in spec["tags"]}
    by_tag: dict[str, list[str]] = {name: [] for name in tags}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            by_tag[operation["tags"][0]].append(_operation(path, method, operation))
    contents = "".join(f'<li><a href="#{escape(tag)}">{escape(tag)}</a></li>' for tag in by_tag)
    sections = "".join(
        f'<h2 id="{escape(tag)}">{escape(tag)}</h2><p>{escape(tags[tag])}</p>{"".join(parts)}'
        for tag, parts in by_tag.items()
    )
    info = spec["info"]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(info['title'])} API</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} API</h1><p>{escape(info['description'])}</p>"
        "<p>Authenticate every call with <code>Authorization: Bearer &lt;key&gt;</code> or"
        " <code>X-Api-Key: &lt;key&gt;</code>. Errors are"
        ' <code>{"error": {"code", "message", "details"}}</code>. The machine-readable'
        ' document is <a href="/openapi.json">/openapi.json</a>.</p>'
        f"<ul>{contents}</ul>{sections}"
        f"<h2 id=schemas>Schemas</h2>{_schemas(spec['components']['schemas'])}</body></html>"
    )


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    parts = [
        f'<section class=op id="{escape(operation["operationId"])}">'
        f'<h3><span class="method {method}">{method.upper()}</span><code>{escape(path)}</code>'
        f"</h3><p><b>{escape(operation['summary'])}</b>"
        f" <small>({escape(operation['operationId'])})</small></p>"
    ]
    if "description" in operation:
        parts.append(f"<p>{escape(operation['description'])}</p>")
    if operation.get("security") == []:
        parts.append("<p><i>Public: no API key needed.</i></p>")
    if operation["parameters"]:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td>"
            f"<td><code>{escape(_brief(p['schema']))}</code></td>"
            f"<td>{escape(p.get('description') or p['schema'].get('description', ''))}</td></tr>"
            for p in operation["parameters"]
        )
        parts.append(
            f"<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>{rows}</table>"
        )
    body = operation.get("requestBody")
    if body is not None:
        media = next(iter(body["content"].values()))
        shown = "".join(_json(example) for example in body_examples(media))
        parts.append(
            f"<p>Request body ({'required' if body['required'] else 'optional'}):"
            f" {_ref_link(media['schema'])}</p>{shown}"
        )
    parts.append(_responses(operation["responses"]))
    return "".join(parts) + "</section>"


def _responses(responses: dict[str, Any]) -> str:
    rows = []
    for status, response in responses.items():
        shown = ""
        codes = response.get("x-error-codes", [])
        for media in response.get("content", {}).values():
            schema = media["schema"]
            shown = ", ".join(f"<code>{escape(code)}</code>" for code in codes) or _ref_link(schema)
            if not codes and "example" in media:
                shown += _json(media["example"])
        rows.append(
            f"<tr><td><b>{status}</b></td><td>{escape(response['description'])}</td>"
            f"<td>{shown}</td></tr>"
        )
    return f"<table><tr><th>status</th><th></th><th>body</th></tr>{''.join(rows)}</table>"


def _schemas(definitions: dict[str, Any]) -> str:
    parts = []
    for name, definition in sorted(definitions.items()):
        required = set(definition.get("required", []))
        rows = "".join(
            f"<tr><td><code>{escape(field)}</code>{'' if field in required else '?'}</td>"
            f"<td><code>{escape(_brief(schema))}</code></td>"
            f"<td>{escape(schema.get('description', ''))}</td></tr>"
            for field, schema in definition.get("properties", {}).items()
        )
        parts.append(f'<h3 id="schema-{escape(name)}">{escape(name)}</h3><table>{rows}</table>')
    return "".join(parts)


def _brief(schema: dict[str, Any]) -> str:
    """A schema in one line: its type or reference and its constraints."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_brief(item) for item in schema[key])
    text = str(schema.get("type", "any"))
    if "items" in schema:
        text = f"array of {_brief(schema['items'])}"
    constraints = [
        f"{key} {json.dumps(schema[key])}"
        for key in ("enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum")
        if key in schema
    ]
    return text + (f" ({', '.join(constraints)})" if constraints else "")


def _ref_link(schema: dict[str, Any]) -> str:
    if "$ref" not in schema:
        return f"<code>{escape(_brief(schema))}</code>"
    name = str(schema["$ref"]).rsplit("/", 1)[1]
    return f'<a href="#schema-{escape(name)}"><code>{escape(name)}</code></a>'


def _json(value: Any) -> str:
    if value is None:
        return ""
    return f"<pre>{escape(json.dumps(value, indent=2))}</pre>"
