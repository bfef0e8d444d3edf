"""The request bodies the docs show (`$ curl ... --json BODY` in README.md and docs/api.md), as a
TypeScript module that assigns each to the type openapi-typescript made of its operation's
request body: `tsc` then refuses a body the document would not describe (a missing required
field, an unknown one, a wrong type). Shell variables (`$P`, `$W`) become their names."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "api.md")
HOST = "localhost:8080"


@dataclass(frozen=True)
class Body:
    """One request body of the docs: where it is shown, its method, path template and JSON."""

    source: str
    method: str
    template: str
    value: Any


def _template(path: str, templates: list[str]) -> str:
    for template in templates:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return template
    raise ValueError(f"{path} matches no path of the document")


def bodies(document: dict[str, Any]) -> list[Body]:
    """Every `curl ... --json` of the docs, with its operation in `document`."""
    templates = list(document["paths"])
    found = []
    for source in DOCUMENTS:
        for number, line in enumerate(source.read_text().splitlines(), start=1):
            if not line.startswith("$ curl ") or "--json" not in line:
                continue
            words = shlex.split(line.removeprefix("$ "))
            method = words[words.index("-X") + 1] if "-X" in words else "POST"
            url = next(word for word in words if HOST in word)
            path = url.split(HOST, 1)[1].split("?", 1)[0]
            value = json.loads(words[words.index("--json") + 1])
            where = f"{source.relative_to(ROOT)}:{number}"
            found.append(Body(where, method.lower(), _template(path, templates), value))
    return found


def typescript(found: list[Body]) -> str:
    """The module tsc checks: one typed constant per body, and one body that must not check
    (so that a document whose types accept anything fails the job)."""
    lines = ['import type { paths } from "./cloudwallet";', ""]
    lines.append(
        "type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends"
        ' { requestBody?: { content: { "application/json": infer B } } } ? B : never;'
    )
    for index, body in enumerate(found):
        lines.append(f"// {body.source}")
        lines.append(
            f'export const body{index}: Body<"{body.template}", "{body.method}"> ='
            f" {json.dumps(body.value)};"
        )
    lines.append("// A body of a wrong shape must fail, or the types check nothing.")
    lines.append("// @ts-expect-error amount is a string or an integer, never a boolean")
    lines.append(
        'export const wrong: Body<"/projects/{projectId}/transactions", "post"> ='
        ' {"referenceId": "r", "operations": [{"type": "Issue", "to": "w", "amount": true}]};'
    )
    return "\n".join(lines) + "\n"
