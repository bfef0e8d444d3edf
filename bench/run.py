"""One benchmark run: starts and stops the service's processes, drives the scenarios, the drains
and the baselines, and gathers their figures."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import baselines, drain, profiles, report
from bench.figures import BACKLOG_TIMEOUT_S, applied_figures, batch_sizes, wait_applied
from bench.processes import Sampler, Service
from bench.seed import BenchLedger
from bench.workload import HOT_WALLETS, Distribution, WalletPicker
from shared.settings import Settings

LOADGEN_EXTRA_TIMEOUT_S = 180
BASELINE_A_RUNS: tuple[tuple[str, int, Distribution], ...] = (
    ("a", 11, "uniform"),
    ("a-hot", 12, "zipf"),
    ("a-hot10", 14, "hot10"),
)


@dataclass(frozen=True)
class HttpScenario:
    name: str
    description: str
    distribution: str
    operations_per_transaction: int
    batch_size: int
    rate_per_s: float  # requests per second


def http_scenarios(arguments: argparse.Namespace) -> list[HttpScenario]:
    batch_size = arguments.batch_size
    return [
        HttpScenario(
            "uniform-2000",
            f"single transfers among {arguments.wallets} wallets, uniform,"
            f" {arguments.rate}/s offered",
            "uniform",
            1,
            0,
            arguments.rate,
        ),
        HttpScenario(
            "uniform-max",
            f"single transfers, uniform, {arguments.rate_max}/s offered",
            "uniform",
            1,
            0,
            arguments.rate_max,
        ),
        HttpScenario(
            "hot-zipf",
            f"single transfers, hot wallets (Zipf s=1), {arguments.rate_max}/s offered",
            "zipf",
            1,
            0,
            arguments.rate_max,
        ),
        HttpScenario(
            "hot-10",
            f"single transfers, all among {HOT_WALLETS} wallets, {arguments.rate_max}/s offered",
            "hot10",
            1,
            0,
            arguments.rate_max,
        ),
        HttpScenario(
            "three-op",
            f"single transactions of 3 transfers, uniform, {arguments.rate}/s offered",
            "uniform",
            3,
            0,
            arguments.rate,
        ),
        HttpScenario(
            "batch",
            f"batch route, {batch_size} transfers per request, {arguments.batch_rate} requests/s",
            "uniform",
            1,
            batch_size,
            arguments.batch_rate,
        ),
    ]


class Run:
    def __init__(self, arguments: argparse.Namespace, settings: Settings, log_dir: Path) -> None:
        self.arguments = arguments
        self.settings = settings
        self.log_dir = log_dir
        self.sampler = Sampler()
        self.profilers: list[tuple[Path, subprocess.Popen[bytes]]] = []
        self.run_id = datetime.now(UTC).strftime("%H%M%S")

    def start(self, label: str, *roles: str) -> dict[str, Service]:
        """Start the roles' processes, named by role (`--gateways` gateways in a scenario:
        `gateway`, `gateway-2`, ..., sampled together as `gateway`)."""
        services: dict[str, Service] = {}
        for role in roles:
            count = self.arguments.gateways if role == "gateway" and label != "seed" else 1
            pids = []
            for number in range(1, count + 1):
                suffix = f"-{number}" if number > 1 else ""
                service = Service.start(role, self.settings, self.log_dir, label + suffix)
                services[role + suffix] = service
                pids.append(service.pid)
            self.sampler.watch(role, *pids)
        for name, service in services.items():
            if self.arguments.profile and label != "seed":
                raw = self.log_dir / f"{label}-{name}.raw"
                self.profilers.append((raw, profiles.attach(service.pid, raw)))
        return services

    def stop(self, services: dict[str, Service]) -> None:
        for service in services.values():
            service.stop()
        for raw, profiler in self.profilers:
            profiler.wait(timeout=60)
            summary = profiles.summarize(raw) if raw.exists() else f"{raw.name}: no profile"
            raw.with_suffix(".txt").write_text(summary + "\n")
            print(f"profile: {raw.with_suffix('.txt')}")
        self.profilers.clear()

    async def http(self, scenario: HttpScenario, ledger: BenchLedger) -> dict[str, Any]:
        arguments = self.arguments
        services = self.start(scenario.name, "worker", "gateway")
        prefix = f"{scenario.name}-{self.run_id}"
        spec = {
            "host": self.settings.http_host,
            "port": self.settings.http_port,
            "api_key": ledger.api_key,
            "project_id": ledger.project_id,
            "amqp_url": self.settings.amqp_url.get_secret_value(),
            "wallets": ledger.wallets,
            "distribution": scenario.distribution,
            "operations_per_transaction": scenario.operations_per_transaction,
            "batch_size": scenario.batch_size,
            "rate_per_s": scenario.rate_per_s,
            "duration_s": arguments.duration_s,
            "connections": arguments.connections,
            "backlog_max": max(1, int(scenario.rate_per_s * arguments.backlog_s)),
            "tail_s": arguments.tail_s,
            "seed": hash(scenario.name) & 0xFFFF,
            "reference_prefix": prefix,
            "events": arguments.events,
        }
        spec_path = self.log_dir / f"{scenario.name}-spec.json"
        result_path = self.log_dir / f"{scenario.name}-result.json"
        spec_path.write_bytes(orjson.dumps(spec))
        try:
            loadgen = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.loadgen", str(spec_path), str(result_path)
            )
            self.sampler.watch("loadgen", loadgen.pid)
            await asyncio.wait_for(
                loadgen.wait(),
                timeout=arguments.duration_s + arguments.tail_s + LOADGEN_EXTRA_TIMEOUT_S,
            )
            if loadgen.returncode != 0:
                raise RuntimeError(f"the load generator failed ({loadgen.returncode})")
            load = orjson.loads(result_path.read_bytes())
            window = (load["started_wall_s"], load["started_wall_s"] + load["window_s"])
            peak_rss = {name: service.peak_rss_mb() for name, service in services.items()}
            # What was accepted but not yet applied must not spill into the next scenario.
            backlog_s = await wait_applied(
                self.settings, ledger.project_id, prefix, load["accepted_transactions"]
            )
        finally:
            self.stop(services)
        peak_rss["loadgen"] = load["peak_rss_mb"]
        if not arguments.events:
            load.update(await applied_figures(self.settings, ledger.project_id, prefix, window))
        return {
            "description": scenario.description,
            "gateways": arguments.gateways,
            "backlog_drained_s": backlog_s,
            "load": load,
            "batch_sizes": report.batch_summary(
                await batch_sizes(self.settings, [ledger.project_id], prefix)
            ),
            "cpu_percent": self.cpu(window),
            "peak_rss_mb": peak_rss,
        }

    def cpu(self, window: tuple[float, float]) -> dict[str, float | None]:
        return {name: self.sampler.cpu_percent(name, *window) for name in report.PROCESS_ORDER}

    async def drain(
        self,
        ledger: BenchLedger,
        prefix: str,
        count: int,
        distribution: str,
        batch_size: int = 1,
        holds: bool = False,
    ) -> dict[str, Any]:
        if await drain.queue_depth(self.settings, [ledger.project_id]):
            # Messages of earlier scenarios whose confirm came too late (answered 503) were
            # still queued: apply them first, so that the drain times its own messages only.
            services = self.start(f"{prefix}-leftovers", "worker")
            try:
                await drain.wait_queue_empty(self.settings, [ledger.project_id], BACKLOG_TIMEOUT_S)
            finally:
                self.stop(services)
        picker = WalletPicker(ledger.wallets, distribution)  # type: ignore[arg-type]
        queued = await drain.queue_messages(
            self.settings,
            ledger.project_id,
            picker,
            count,
            prefix,
            seed=5,
            batch_size=batch_size,
            holds=holds,
        )
        depth = await drain.queue_depth(self.settings, [ledger.project_id])
        started = time.time()
        services = self.start(prefix, "worker")
        try:
            drained = await drain.wait_drained(
                self.settings, [ledger.project_id], prefix, count, started
            )
            peak_rss = {"worker": services["worker"].peak_rss_mb()}
        finally:
            self.stop(services)
        return {
            "distribution": distribution,
            "messages": count,
            "batch_size": batch_size,
            "holds": holds,
            "queue_depth_before": depth,
            "queued_per_s": queued.messages / queued.elapsed_s,
            "rate_per_s": drained.rate_per_s,
            "wall_rate_per_s": drained.wall_rate_per_s,
            "commit_span_s": drained.commit_span_s,
            "batch_sizes": report.batch_summary(
                await batch_sizes(self.settings, [ledger.project_id], prefix)
            ),
            "cpu_percent": self.cpu((started, started + drained.wall_s)),
            "peak_rss_mb": peak_rss,
        }

    async def baselines(self, ledger: BenchLedger) -> dict[str, Any]:
        url = self.settings.database_url.get_secret_value()
        results = {}
        # Baseline (a) on uniform wallets, on Zipf wallets, and on 10 wallets only.
        for key, seed, distribution in BASELINE_A_RUNS:
            results[key] = await baselines.per_transfer(
                url,
                ledger.project_id,
                ledger.wallets,
                connections=20,
                duration_s=self.arguments.baseline_a_s,
                transfers_max=self.arguments.baseline_a_transfers_max,
                seed=seed,
                distribution=distribution,
            )
        results["b"] = await baselines.set_based(
            url,
            ledger.project_id,
            ledger.wallets,
            batch_size=1000,
            batches=self.arguments.baseline_b_batches,
            seed=13,
        )
        return {
            key: {"name": r.name, "transfers": r.transfers, "elapsed_s": r.elapsed_s,
                  "rate_per_s": r.rate_per_s}
            for key, r in results.items()
        }  # fmt: skip
