"""The monitoring files (docs/operations.md): the services-only compose file starts PostgreSQL,
RabbitMQ and Redis alone, on their default ports with the credentials `make run` expects, Redis
persistent and every service restarted, Prometheus and Grafana only under the `monitoring`
profile; Prometheus scrapes the ports the settings default to; and the Grafana dashboard asks
only for series that the gateway's and the worker's registries define."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from gateway.metrics import GatewayMetrics
from shared.settings import Settings
from worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
SERIES = re.compile(r"\bcloudwallet_[a-z_]+")


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    return loaded


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def series_of(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry's families expose, whether or not a labelled child exists
    yet."""
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]
    }


def test_the_services_compose_file_starts_the_three_services_as_make_run_expects() -> None:
    services = load("docker-compose.services.yml")["services"]
    default = {name for name, service in services.items() if "profiles" not in service}
    assert default == {"postgres", "rabbitmq", "redis"}
    assert {name for name, service in services.items() if service.get("profiles")} == {
        "prometheus",
        "grafana",
    }
    settings = Settings()
    ports = {name: services[name]["ports"] for name in default}
    assert ports == {
        "postgres": ["127.0.0.1:5432:5432"],
        "rabbitmq": ["127.0.0.1:5672:5672"],
        "redis": ["127.0.0.1:6379:6379"],
    }
    assert "postgres@127.0.0.1:5432" in settings.database_url.get_secret_value()
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "postgres"
    assert services["postgres"]["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert "guest:guest@127.0.0.1:5672" in settings.amqp_url.get_secret_value()
    assert services["redis"]["command"] == ["redis-server", "--appendonly", "yes"]
    assert all(service["restart"] == "unless-stopped" for service in services.values())


def test_the_full_compose_file_keeps_redis_and_restarts_every_service() -> None:
    services = load("docker-compose.yml")["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == (
        "yes"
    )
    long_running = {name for name in services if name != "migrate"}
    assert all(services[name]["restart"] == "unless-stopped" for name in long_running)


def test_prometheus_scrapes_the_ports_the_gateway_and_the_worker_listen_on() -> None:
    settings = Settings()
    for name in ("monitoring/prometheus.yml", "monitoring/prometheus-host.yml"):
        jobs = {job["job_name"]: job for job in load(name)["scrape_configs"]}
        (gateway,) = jobs["cloudwallet-gateway"]["static_configs"][0]["targets"]
        (worker,) = jobs["cloudwallet-worker"]["static_configs"][0]["targets"]
        assert gateway.endswith(f":{settings.http_port}")
        assert worker.endswith(f":{settings.worker_metrics_port}")


def test_the_dashboard_asks_only_for_series_the_processes_define() -> None:
    dashboard = json.loads(
        (ROOT / "monitoring/grafana/dashboards/cloudwallet.json").read_text(encoding="utf-8")
    )
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in SERIES.findall(target["expr"])
    }
    defined = series_of(GatewayMetrics().registry) | series_of(WorkerMetrics().registry)
    assert asked
    assert asked <= defined, asked - defined
