"""The clients job of CI: generated clients work with the document the gateway serves. This
module migrates its own namespace, starts `cloudwallet worker` and `cloudwallet gateway` as
processes, reads `/openapi.json` from the live gateway, and then:

1. generates a Python client with openapi-python-client (any warning fails the job: a warning
   is a schema it dropped) and runs the smoke flow of `tests/clients/smoke.py` with it against
   the live gateway;
2. generates TypeScript types with openapi-typescript (npm, `tests/clients/typescript/`) and
   type-checks the request bodies of README.md and docs/api.md against them with `tsc`
   (`tests/clients/readme_bodies.py`).

    python -m tests.clients.run      # make clients

The namespace is `<CLOUDWALLET_TEST_NAMESPACE>_clients` (database, RabbitMQ virtual host), with
the Redis db of CLOUDWALLET_TEST_REDIS_DB."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from shared.database import migrate
from shared.settings import Settings
from tests.clients import readme_bodies, smoke
from tests.processes import free_port, start_cloudwallet, stop_process
from tests.schemathesis.run import wait_healthy
from tests.support import (
    AMQP_SERVER,
    DATABASE_SERVER,
    NAMESPACE,
    create_tenant_key,
    ensure_vhost,
    namespace_settings,
    server_url,
)

TYPESCRIPT = Path(__file__).resolve().parent / "typescript"
GENERATOR_CONFIG = "project_name_override: cloudwallet-generated\npackage_name_override: {}\n"
STEP_TIMEOUT_S = 120


def clients_settings() -> Settings:
    namespace = f"{NAMESPACE}_clients"
    return namespace_settings(
        database_url=server_url(DATABASE_SERVER, f"cloudwallet_{namespace}"),
        amqp_url=server_url(AMQP_SERVER, f"cloudwallet-{namespace}"),
        http_port=free_port(),
    )


def step(name: str, command: list[str], cwd: Path | None = None) -> str:
    """Run `command`, print how long it took, and return its output; fail on a non-zero exit."""
    started = time.monotonic()
    bin_dir = str(Path(sys.executable).parent)  # the generator's formatter (ruff) is there
    env = os.environ | {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    print(f"clients: {name}: exit {result.returncode} in {time.monotonic() - started:.1f} s")
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{output}")
    return output


def python_client(document_path: Path, work_dir: Path, url: str, api_key: str) -> None:
    config = work_dir / "generator.yaml"
    config.write_text(GENERATOR_CONFIG.format(smoke.PACKAGE))
    generator = str(Path(sys.executable).with_name("openapi-python-client"))
    package = str(work_dir / smoke.PACKAGE)
    command = [generator, "generate", "--path", str(document_path), "--meta", "none"]
    output = step(
        "openapi-python-client", [*command, "--output-path", package, "--config", str(config)]
    )
    if "Warning" in output or "Unable" in output:
        raise RuntimeError(f"openapi-python-client dropped part of the document:\n{output}")
    sys.path.insert(0, str(work_dir))
    started = time.monotonic()
    for done in smoke.run(url, api_key):
        print(f"clients: generated Python client: {done}")
    print(f"clients: smoke flow in {time.monotonic() - started:.1f} s")


def typescript_types(document_path: Path, document: dict[str, object]) -> None:
    generated = TYPESCRIPT / "generated"
    generated.mkdir(exist_ok=True)
    step("npm ci", ["npm", "ci", "--no-audit", "--no-fund"], cwd=TYPESCRIPT)
    generator = str(TYPESCRIPT / "node_modules/.bin/openapi-typescript")
    types = str(generated / "cloudwallet.ts")
    step("openapi-typescript", [generator, str(document_path), "-o", types])
    found = readme_bodies.bodies(document)
    (generated / "readme-bodies.ts").write_text(readme_bodies.typescript(found))
    step(
        f"tsc on {len(found)} request bodies of the docs",
        [str(TYPESCRIPT / "node_modules/.bin/tsc"), "-p", str(TYPESCRIPT)],
    )


def main() -> int:
    settings = clients_settings()
    ensure_vhost(settings)
    asyncio.run(migrate(settings))
    api_key = asyncio.run(create_tenant_key(settings))
    work_dir = Path(tempfile.mkdtemp(prefix="cloudwallet-clients-"))
    url = f"http://127.0.0.1:{settings.http_port}"
    started = time.monotonic()
    worker = start_cloudwallet("worker", settings, work_dir / "worker.log")
    gateway = start_cloudwallet("gateway", settings, work_dir / "gateway.log")
    try:
        wait_healthy(url, gateway)
        with urllib.request.urlopen(url + "/openapi.json", timeout=10) as response:
            served = response.read()
        document_path = work_dir / "openapi.json"
        document_path.write_bytes(served)
        print(f"clients: the served document ({len(served):,} bytes) and logs in {work_dir}")
        python_client(document_path, work_dir, url, api_key)
        typescript_types(document_path, json.loads(served))
    finally:
        stop_process(gateway)
        stop_process(worker)
    print(f"clients: passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
