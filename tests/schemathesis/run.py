"""Schemathesis against a live gateway and worker: this module migrates its own namespace,
creates an API key, starts `cloudwallet worker` and `cloudwallet gateway` as processes, makes a
small fixture ledger through the API, runs schemathesis with a pinned seed and the checks CI
requires, and stops what it started.

    python -m tests.schemathesis.run [extra schemathesis options]

Path ids are drawn mostly from the fixture (so that generated requests reach the handlers, not
only the 404 of an unknown project) and otherwise generated; the stateful phase follows the
document's links from resources it creates itself. Generated asset codes and reference IDs are
mostly made unique (`tests/schemathesis/hooks.py`), so that the success path of creating them is
reached as well as their 409s.

The namespace is `<CLOUDWALLET_TEST_NAMESPACE>_schemathesis` (database, RabbitMQ virtual host),
with the Redis db of CLOUDWALLET_TEST_REDIS_DB, so a run never touches the test suite's data."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from shared.contract.messages import hold_id
from shared.database import migrate
from shared.settings import Settings
from tests.processes import STARTUP_TIMEOUT_S, free_port, start_cloudwallet, stop_process
from tests.support import (
    AMQP_SERVER,
    DATABASE_SERVER,
    NAMESPACE,
    create_tenant_key,
    ensure_vhost,
    namespace_settings,
    server_url,
)

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,negative_data_rejection,ignored_auth,use_after_free,"
    "ensure_resource_availability"
)
SEED = 20250131
MAX_EXAMPLES = 40
# Fuzzing and stateful testing repeat, in the seeded order, until the budget is spent.
TIME_BUDGET_S = 150
RUN_TIMEOUT_S = 270
FIXTURE_PROBABILITY = 0.8
STATEFUL_SCENARIOS = 150


def schemathesis_settings() -> Settings:
    namespace = f"{NAMESPACE}_schemathesis"
    return namespace_settings(
        database_url=server_url(DATABASE_SERVER, f"cloudwallet_{namespace}"),
        amqp_url=server_url(AMQP_SERVER, f"cloudwallet-{namespace}"),
        http_port=free_port(),
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("the gateway did not become healthy in time")


def schemathesis_command(
    url: str, api_key: str, config_path: Path, report_dir: Path, extra: list[str]
) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config_path),
        "run",
        f"{url}/openapi.json",
        "--url",
        url,
        "--checks",
        CHECKS,
        "--seed",
        str(SEED),
        "--max-time",
        str(TIME_BUDGET_S),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {api_key}",
        # Schemathesis reuses ids from answers in later paths: it found the run's own key in
        # GET /keys and revoked it, and every later request was a 401. Revocation is tested by
        # tests/integration/test_keys.py.
        "--exclude-operation-id",
        "revokeKey",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        *extra,
    ]


def hooks_env() -> dict[str, str]:
    """The environment of the schemathesis process, with the hooks of `tests/schemathesis/hooks.py`
    (the repository on its import path)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(part for part in (root, os.environ.get("PYTHONPATH", "")) if part)
    return {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis.hooks", "PYTHONPATH": path}


def call(url: str, api_key: str, method: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def make_fixture(url: str, api_key: str) -> dict[str, list[str]]:
    """A project with an asset, a customer with a wallet, a funded system wallet, a transaction
    that holds part of its funds and a webhook endpoint: the ids schemathesis draws path
    parameters from."""
    project = call(url, api_key, "POST", "/projects", {"name": "schemathesis"})["id"]
    base = f"/projects/{project}"
    asset = call(url, api_key, "POST", base + "/assets", {"name": "P", "code": "P", "fractions": 1})
    customer = call(url, api_key, "POST", base + "/customers", {"id": "fixture-customer"})
    wallet = call(
        url,
        api_key,
        "POST",
        base + "/wallets",
        {"customerId": customer["id"], "assetId": asset["id"]},
    )
    treasury = call(url, api_key, "POST", base + "/system-wallets", {"assetId": asset["id"]})
    transaction = call(
        url,
        api_key,
        "POST",
        base + "/transactions",
        {
            "referenceId": "fixture",
            "operations": [
                {"type": "Issue", "to": treasury["id"], "amount": 5},
                {"type": "Hold", "from": treasury["id"], "to": wallet["id"], "amount": 2},
            ],
        },
    )
    webhook = call(
        url,
        api_key,
        "POST",
        base + "/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["transaction.failed"]},
    )
    return {
        "projectId": [project],
        "assetId": [asset["id"]],
        "customerId": [customer["id"]],
        "walletId": [wallet["id"], treasury["id"]],
        "transactionId": [transaction["id"]],
        "holdId": [hold_id(transaction["id"], 1)],
        "webhookId": [webhook["id"]],
    }


def write_config(path: Path, fixture: dict[str, list[str]]) -> None:
    # No crash cache between runs: each run is the seeded sequence and nothing else.
    lines = ["[cache]", "enabled = false", ""]
    for name, values in fixture.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines += ["[generation]", f"max-examples = {MAX_EXAMPLES}", ""]
    lines += ["[phases.stateful.generation]", f"max-examples = {STATEFUL_SCENARIOS}", ""]
    lines.append("[parameters]")
    for name in fixture:
        lines.append(
            f'"path.{name}" = {{ dictionary = "{name}", probability = {FIXTURE_PROBABILITY} }}'
        )
    path.write_text("\n".join(lines) + "\n")


def main(extra: list[str]) -> int:
    settings = schemathesis_settings()
    ensure_vhost(settings)
    asyncio.run(migrate(settings))
    api_key = asyncio.run(create_tenant_key(settings))
    work_dir = Path(tempfile.mkdtemp(prefix="cloudwallet-schemathesis-"))
    url = f"http://127.0.0.1:{settings.http_port}"
    worker = start_cloudwallet("worker", settings, work_dir / "worker.log")
    gateway = start_cloudwallet("gateway", settings, work_dir / "gateway.log")
    try:
        wait_healthy(url, gateway)
        config_path = work_dir / "schemathesis.toml"
        write_config(config_path, make_fixture(url, api_key))
        command = schemathesis_command(url, api_key, config_path, work_dir / "report", extra)
        print(f"schemathesis: seed {SEED}, logs and report in {work_dir}", flush=True)
        started = time.monotonic()
        result = subprocess.run(command, timeout=RUN_TIMEOUT_S, check=False, env=hooks_env())
        print(f"schemathesis: exit {result.returncode} in {time.monotonic() - started:.0f} s")
        return result.returncode
    finally:
        stop_process(gateway)
        stop_process(worker)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
