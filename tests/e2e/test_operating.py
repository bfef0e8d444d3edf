"""Operating `cloudwallet` as a newcomer and an operator would, through real processes:
`--version`; `status --json` parseable; a command whose PostgreSQL is down, or a gateway whose
port is taken, says so in one line naming the service or the port, without a traceback; and a
gateway and a worker writing JSON logs, in a namespace of the module's own (so that this
worker applies every transaction), both log the request id a client sent and the one the
gateway made, and both /metrics pages move."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from shared.database import migrate
from shared.ids import new_id
from shared.settings import Settings
from tests.e2e.conftest import wait_healthy
from tests.processes import free_port, start_cloudwallet, stop_process
from tests.support import (
    AMQP_SERVER,
    DATABASE_SERVER,
    NAMESPACE,
    Api,
    create_tenant_key,
    ensure_topology,
    ensure_vhost,
    issue,
    namespace_settings,
    new_ledger,
    server_url,
    settings_environment,
)

pytestmark = pytest.mark.e2e
COMMAND_TIMEOUT_S = 60
LOG_WAIT_S = 10
CLOUDWALLET = str(Path(sys.executable).with_name("cloudwallet"))


def run(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLOUDWALLET, *arguments],
        env=settings_environment(settings),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def test_version_and_status_as_json(migrated: Settings) -> None:
    version = run(migrated, "--version")
    assert version.returncode == 0
    assert version.stdout.startswith("cloudwallet ")
    status = run(migrated, "status", "--json")
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert [one["partition"] for one in document["partitions"]] == list(
        range(migrated.partition_count)
    )
    assert {"owner", "queued", "consumers", "appliedPerSecond", "eventsDue"} <= set(
        document["partitions"][0]
    )
    assert isinstance(document["workers"], list)


def test_a_command_whose_postgresql_is_down_says_so_in_one_line(
    migrated: Settings, closed_port: int
) -> None:
    settings = namespace_settings(database_url=f"postgresql://postgres@127.0.0.1:{closed_port}/x")
    for arguments in (["migrate"], ["verify"], ["keys", "create", "--tenant", "t"]):
        answer = run(settings, *arguments)
        assert answer.returncode == 1
        (line,) = answer.stderr.splitlines()
        assert f"cannot reach PostgreSQL at 127.0.0.1:{closed_port}" in line
        assert "start it" in line


def test_a_gateway_whose_port_is_taken_says_so_in_one_line(migrated: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = run(migrated.model_copy(update={"http_port": port}), "gateway")
    assert answer.returncode == 1
    assert "Traceback" not in answer.stderr
    lines = [line for line in answer.stderr.splitlines() if "cannot listen" in line]
    assert len(lines) == 1
    assert f"127.0.0.1:{port}" in lines[0]
    assert "CLOUDWALLET_HTTP_PORT" in lines[0]


@dataclass(frozen=True)
class Processes:
    settings: Settings
    gateway_url: str
    worker_url: str
    gateway_log: Path
    worker_log: Path


@pytest.fixture(scope="module")
async def json_processes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Processes]:
    namespace = f"{NAMESPACE}_e2e_operate"
    settings = namespace_settings(
        database_url=server_url(DATABASE_SERVER, f"cloudwallet_{namespace}"),
        amqp_url=server_url(AMQP_SERVER, f"cloudwallet-{namespace}"),
        http_port=free_port(),
        worker_metrics_port=free_port(),
        log_format="json",
    )
    await asyncio.to_thread(ensure_vhost, settings)
    await ensure_topology(settings)
    await migrate(settings)
    logs = Path(tmp_path_factory.mktemp("operate"))
    worker = start_cloudwallet("worker", settings, logs / "worker.log")
    gateway = start_cloudwallet("gateway", settings, logs / "gateway.log")
    try:
        url = f"http://127.0.0.1:{settings.http_port}"
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, url, gateway)
        yield Processes(
            settings,
            url,
            f"http://127.0.0.1:{settings.worker_metrics_port}",
            logs / "gateway.log",
            logs / "worker.log",
        )
    finally:
        stop_process(gateway)
        stop_process(worker)


def json_lines(path: Path) -> list[dict[str, object]]:
    """Every line of a process's log, each a JSON object (a line that is not fails the test)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def logged_with(path: Path, request_id: str) -> list[dict[str, object]]:
    """The log's lines that carry `request_id`, once there is one (within LOG_WAIT_S)."""
    for _ in range(int(LOG_WAIT_S / 0.1)):
        found = [line for line in json_lines(path) if line.get("requestId") == request_id]
        if found:
            return found
        await asyncio.sleep(0.1)
    return []


async def test_both_processes_log_json_lines_with_the_request_ids_and_count_in_metrics(
    json_processes: Processes, http_session: aiohttp.ClientSession
) -> None:
    api = Api(
        http_session, json_processes.gateway_url, await create_tenant_key(json_processes.settings)
    )
    ledger = await new_ledger(api)
    treasury = await ledger.system_wallet()
    sent = f"client-{new_id()}"
    path = f"/projects/{ledger.project_id}/transactions"
    ids = []
    for headers in ({"X-Request-Id": sent}, {}):
        reply = await api.call(
            "POST",
            path,
            {"referenceId": new_id(), "operations": [issue(treasury, 1)]},
            headers=headers,
        )
        assert reply.status == 202
        echoed = {name.lower(): text for name, text in reply.headers.items()}["x-request-id"]
        ids.append(echoed)
        assert (await api.final(ledger.project_id, reply.body["id"]))["status"] == "Completed"
    assert ids[0] == sent
    assert ids[1] != sent
    for request_id in ids:
        (access,) = await logged_with(json_processes.gateway_log, request_id)
        assert access["route"] == "/projects/{projectId}/transactions"
        assert access["status"] == 202
        applied = await logged_with(json_processes.worker_log, request_id)
        assert len(applied) == 1
        assert "Completed" in str(applied[0]["message"])
    for url in (json_processes.gateway_url, json_processes.worker_url):
        async with http_session.get(url + "/metrics") as response:
            text = await response.text()
        counted = [
            line
            for line in text.splitlines()
            if line.startswith("cloudwallet_") and not line.endswith(" 0.0")
        ]
        assert counted, url
    async with http_session.get(json_processes.worker_url + "/ready") as response:
        assert response.status == 200
