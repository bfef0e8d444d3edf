"""`python -m bench`: set up a ledger with many funded wallets, drive open-loop load through the
gateway and worker processes it starts itself, run the SQL baselines on the same database and
wallets, and print the figures and the issue's targets. See docs/performance.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import uvloop

from bench import baselines, drain, profiles, report
from bench.environment import bench_settings, reset
from bench.processes import Sampler, Service
from bench.seed import BenchLedger, create_ledger, fund
from bench.workload import WalletPicker
from shared.settings import Settings
from shared.verify import verify

LOADGEN_EXTRA_TIMEOUT_S = 180
BACKLOG_TIMEOUT_S = 600
RESULTS_DIR = Path("bench/results")


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


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


async def batch_sizes(settings: Settings, project_id: str, prefix: str) -> list[int]:
    """Transactions committed together share their completion time: one group per batch."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        rows = await connection.fetch(
            "SELECT count(*) AS size FROM transactions WHERE project_id = $1"
            " AND reference_id LIKE $2 GROUP BY completed_at",
            project_id,
            prefix + "-%",
        )
    finally:
        await connection.close()
    return [int(row["size"]) for row in rows]


async def wait_applied(settings: Settings, project_id: str, prefix: str, count: int) -> float:
    """Wait until `count` transactions of the scenario are applied; the seconds it took."""
    started = time.monotonic()
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        while time.monotonic() - started < BACKLOG_TIMEOUT_S:
            applied = await connection.fetchval(
                "SELECT count(*) FROM transactions WHERE project_id = $1 AND reference_id LIKE $2",
                project_id,
                prefix + "-%",
            )
            if applied >= count:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    raise RuntimeError(f"{count - applied} accepted transactions were not applied in time")


async def applied_figures(
    settings: Settings, project_id: str, prefix: str, window: tuple[float, float]
) -> dict[str, Any]:
    """Completions and end-to-end times of a scenario from the database: a transaction's
    `created_at` is when the gateway accepted it, its `completed_at` when the worker applied
    it (its batch's commit followed within milliseconds)."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        row = await connection.fetchrow(
            """
            SELECT count(*) AS applied,
                   count(*) FILTER (WHERE completed_at <= to_timestamp($3)) AS in_window,
                   count(*) FILTER (WHERE status = 'Failed') AS failed,
                   percentile_cont(ARRAY[0.5, 0.99, 0.999]) WITHIN GROUP
                     (ORDER BY extract(epoch FROM completed_at - created_at)::float8) AS e2e,
                   max(extract(epoch FROM completed_at - created_at))::float8 AS e2e_max
            FROM transactions WHERE project_id = $1 AND reference_id LIKE $2
            """,
            project_id,
            prefix + "-%",
            window[1],
        )
    finally:
        await connection.close()
    if row is None or not row["applied"]:
        return {"completed": 0, "completed_in_window": 0, "failed": 0, "end_to_end_ms": {}}
    p50, p99, p999 = (1000 * value for value in row["e2e"])
    return {
        "completed": row["applied"],
        "completed_in_window": row["in_window"],
        "failed": row["failed"],
        "end_to_end_ms": {
            "p50": p50,
            "p99": p99,
            "p99.9": p999,
            "p100": 1000 * float(row["e2e_max"]),
        },
        "end_to_end_source": "database (created_at to completed_at)",
    }


class Run:
    def __init__(self, arguments: argparse.Namespace, settings: Settings, log_dir: Path) -> None:
        self.arguments = arguments
        self.settings = settings
        self.log_dir = log_dir
        self.sampler = Sampler()
        self.profilers: list[tuple[Path, subprocess.Popen[bytes]]] = []
        self.run_id = datetime.now(UTC).strftime("%H%M%S")

    def start(self, label: str, *roles: str) -> dict[str, Service]:
        services = {role: Service.start(role, self.settings, self.log_dir, label) for role in roles}
        for role, service in services.items():
            self.sampler.watch(role, service.pid)
            if self.arguments.profile and label != "seed":
                raw = self.log_dir / f"{label}-{role}.raw"
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
            peak_rss = {role: service.peak_rss_mb() for role, service in services.items()}
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
            "backlog_drained_s": backlog_s,
            "load": load,
            "batch_sizes": report.batch_summary(
                await batch_sizes(self.settings, ledger.project_id, prefix)
            ),
            "cpu_percent": self.cpu(window),
            "peak_rss_mb": peak_rss,
        }

    def cpu(self, window: tuple[float, float]) -> dict[str, float | None]:
        return {name: self.sampler.cpu_percent(name, *window) for name in report.PROCESS_ORDER}

    async def drain(
        self, ledger: BenchLedger, prefix: str, count: int, distribution: str
    ) -> dict[str, Any]:
        if await drain.queue_depth(self.settings, ledger.project_id):
            # Messages of earlier scenarios whose confirm came too late (answered 503) were
            # still queued: apply them first, so that the drain times its own messages only.
            services = self.start(f"{prefix}-leftovers", "worker")
            try:
                await drain.wait_queue_empty(self.settings, ledger.project_id, BACKLOG_TIMEOUT_S)
            finally:
                self.stop(services)
        picker = WalletPicker(ledger.wallets, distribution)  # type: ignore[arg-type]
        queued = await drain.queue_messages(
            self.settings, ledger.project_id, picker, count, prefix, seed=5
        )
        depth = await drain.queue_depth(self.settings, ledger.project_id)
        started = time.time()
        services = self.start(prefix, "worker")
        try:
            drained = await drain.wait_drained(
                self.settings, ledger.project_id, prefix, count, started
            )
            peak_rss = {"worker": services["worker"].peak_rss_mb()}
        finally:
            self.stop(services)
        return {
            "distribution": distribution,
            "messages": count,
            "queue_depth_before": depth,
            "queued_per_s": queued.messages / queued.elapsed_s,
            "rate_per_s": drained.rate_per_s,
            "wall_rate_per_s": drained.wall_rate_per_s,
            "commit_span_s": drained.commit_span_s,
            "batch_sizes": report.batch_summary(
                await batch_sizes(self.settings, ledger.project_id, prefix)
            ),
            "cpu_percent": self.cpu((started, started + drained.wall_s)),
            "peak_rss_mb": peak_rss,
        }

    async def baselines(self, ledger: BenchLedger) -> dict[str, Any]:
        url = self.settings.database_url.get_secret_value()
        a = await baselines.per_transfer(
            url,
            ledger.project_id,
            ledger.wallets,
            connections=20,
            duration_s=self.arguments.baseline_a_s,
            transfers_max=self.arguments.baseline_a_transfers_max,
            seed=11,
        )
        a_hot = await baselines.per_transfer(
            url,
            ledger.project_id,
            ledger.wallets,
            connections=20,
            duration_s=self.arguments.baseline_a_s,
            transfers_max=self.arguments.baseline_a_transfers_max,
            seed=12,
            distribution="zipf",
        )
        b = await baselines.set_based(
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
            for key, r in (("a", a), ("a-hot", a_hot), ("b", b))
        }  # fmt: skip


async def run_bench(arguments: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(
        arguments.namespace, arguments.redis_db, partition_count=arguments.partitions
    )
    log_dir = RESULTS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir.mkdir(parents=True, exist_ok=True)
    run = Run(arguments, settings, log_dir)
    selected = set(arguments.scenarios.split(","))
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "started": datetime.now(UTC).isoformat(),
        "load_average_start": load_average(),
        "scenarios": {},
    }
    print(f"load average at start: {result['load_average_start']}; logs in {log_dir}")
    await reset(settings)
    run.sampler.start()
    try:
        services = run.start("seed", "worker", "gateway")
        try:
            ledger = await create_ledger(settings, arguments.wallets)
            await fund(settings, ledger)
        finally:
            run.stop(services)
        print(f"seeded {arguments.wallets} funded wallets")
        for scenario in http_scenarios(arguments):
            if scenario.name in selected:
                print(f"running {scenario.name} (load average {load_average()})", flush=True)
                result["scenarios"][scenario.name] = await run.http(scenario, ledger)
                print(
                    "\n".join(report.http_block(scenario.name, result["scenarios"][scenario.name]))
                )
        if "baselines" in selected:
            print(f"running baselines (load average {load_average()})", flush=True)
            result["baselines"] = await run.baselines(ledger)
        if "drain-hot" in selected:
            count = max(1, arguments.drain_messages // 10)
            print(f"running drain-hot of {count} (load average {load_average()})", flush=True)
            result["scenarios"]["drain-hot"] = await run.drain(ledger, "hotdrain", count, "zipf")
        if "drain" in selected:
            count = arguments.drain_messages
            print(f"running drain of {count} (load average {load_average()})", flush=True)
            result["scenarios"]["drain"] = await run.drain(ledger, "drain", count, "uniform")
    finally:
        run.sampler.stop()
    if arguments.verify:
        connection = await asyncpg.connect(settings.database_url.get_secret_value())
        try:
            checked = await verify(connection, ledger.project_id)
        finally:
            await connection.close()
        result["ledger_consistent"] = checked.ok
        result["violations"] = checked.violations[:10]
    result["load_average_end"] = load_average()
    (log_dir / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


def print_report(result: dict[str, Any]) -> None:
    lines = ["", "=" * 100, f"cloudwallet benchmark, {result['started']}", result["command"]]
    lines.append(
        f"load average (1/5/15 min) at start {result['load_average_start']},"
        f" at end {result['load_average_end']}"
    )
    for name, scenario in result["scenarios"].items():
        lines.extend(
            report.drain_block(name, scenario)
            if name.startswith("drain")
            else report.http_block(name, scenario)
        )
    for baseline in result.get("baselines", {}).values():
        lines.append(
            f"[baseline {baseline['name']}] {baseline['transfers']} transfers in"
            f" {baseline['elapsed_s']:.1f} s = {baseline['rate_per_s']:.0f} tx/s"
        )
    if "ledger_consistent" in result:
        verdict = "consistent" if result["ledger_consistent"] else "INCONSISTENT"
        lines.append(f"ledger check (cloudwallet verify) after the run: {verdict}")
        lines.extend(f"  {violation}" for violation in result["violations"])
    lines.extend(report.targets(result))
    print("\n".join(lines))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--namespace", default="bench", help="database cloudwallet_<ns>, vhost cloudwallet-<ns>"
    )
    p.add_argument("--redis-db", type=int, default=14)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--wallets", type=int, default=10_000)
    p.add_argument("--duration-s", type=float, default=20, help="load window of each HTTP scenario")
    p.add_argument("--tail-s", type=float, default=15, help="wait for late completions, at most")
    p.add_argument("--rate", type=float, default=2000, help="single submissions per second")
    p.add_argument("--rate-max", type=float, default=3500, help="the higher single-submission rate")
    p.add_argument("--batch-size", type=int, default=1000, help="transactions per batch request")
    p.add_argument("--batch-rate", type=float, default=16, help="batch requests per second")
    p.add_argument("--connections", type=int, default=256, help="keep-alive connections")
    p.add_argument(
        "--backlog-s",
        type=float,
        default=1.0,
        help="requests waiting for a connection, in seconds of load, before drops",
    )
    p.add_argument("--drain-messages", type=int, default=1_000_000)
    p.add_argument("--baseline-a-s", type=float, default=15)
    p.add_argument("--baseline-a-transfers-max", type=int, default=200_000)
    p.add_argument("--baseline-b-batches", type=int, default=100)
    p.add_argument(
        "--scenarios",
        default="uniform-2000,uniform-max,hot-zipf,three-op,batch,baselines,drain-hot,drain",
    )
    p.add_argument("--no-verify", dest="verify", action="store_false")
    p.add_argument("--profile", action="store_true", help="py-spy the gateway and the worker")
    p.add_argument("--events", action="store_true", help="end-to-end from the events exchange")
    return p  # fmt: skip


def main() -> None:
    arguments = parser().parse_args()
    result = uvloop.run(run_bench(arguments))
    print_report(result)


if __name__ == "__main__":
    main()
