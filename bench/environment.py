"""The benchmark's own corner of the local services: a database, a RabbitMQ virtual host and a
Redis database named after `--namespace`, reset at the start of every run so that each run
starts from the same empty state. Only 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
from typing import Any

import asyncpg
import redis.asyncio as redis

from shared.database import migrate
from shared.settings import Settings

COMMAND_TIMEOUT_S = 60


def bench_settings(namespace: str, redis_db: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"postgresql://postgres@127.0.0.1:5432/cloudwallet_{namespace}",
        "amqp_url": f"amqp://guest:guest@127.0.0.1:5672/cloudwallet-{namespace}",
        "redis_url": f"redis://127.0.0.1:6379/{redis_db}",
        "http_host": "127.0.0.1",
        "http_port": free_port(),
        # A drain run queues every message before the worker starts.
        "queue_length_max": 5_000_000,
    }
    values.update(overrides)
    return Settings(**values)


def bench_parser(prog: str, description: str | None, *, partitions: int) -> argparse.ArgumentParser:
    """The options every benchmark command has: its corner of the services, the partition
    count, and the ledger check at the end."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument(
        "--namespace", default="bench", help="database cloudwallet_<ns>, vhost cloudwallet-<ns>"
    )
    p.add_argument("--redis-db", type=int, default=14)
    p.add_argument("--partitions", type=int, default=partitions)
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the ledger check")
    return p


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes: how shared the cores were."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment_of(settings: Settings) -> dict[str, str]:
    """The settings as the `CLOUDWALLET_*` variables of a subprocess."""
    environment = dict(os.environ)
    for name, value in settings.model_dump().items():
        plain = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        environment[f"CLOUDWALLET_{name.upper()}"] = str(plain)
    return environment


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "-q", *arguments],
        check=True,
        timeout=COMMAND_TIMEOUT_S,
        capture_output=True,
    )


def _vhost(settings: Settings) -> str:
    return settings.amqp_url.get_secret_value().rsplit("/", 1)[1]


async def reset(settings: Settings) -> None:
    """Drop and recreate the benchmark's database and virtual host, empty its Redis database,
    and migrate."""
    url = settings.database_url.get_secret_value()
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(_reset_vhost, _vhost(settings))
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        await client.flushdb(asynchronous=True)  # millions of keys take longer than a read timeout
    finally:
        await client.aclose()
    await migrate(settings)


def _reset_vhost(vhost: str) -> None:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"],
        capture_output=True,
        text=True,
        check=True,
        timeout=COMMAND_TIMEOUT_S,
    ).stdout.split()
    if vhost in listed:
        _rabbitmqctl("delete_vhost", vhost)
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
