"""`python -m bench.webhooks`: what webhooks cost the drain, and how fast they are delivered.

One project with `--wallets` funded wallets; a receiver in this process on 127.0.0.1 answers
every delivery 200. Each round drains `--messages` one-transfer messages queued on the
project's partition three ways, in turn (side by side, docs/performance.md):

- `none`: no endpoint (what every batch pays: one index probe; the worker's sender idle);
- `apart`: one endpoint subscribed to `*`, the worker's sender off
  (CLOUDWALLET_WEBHOOK_DELIVERY=false) while it drains: the writer's own cost, its webhooks'
  outbox rows; then `cloudwallet webhooks` alone delivers the drain's events, timed: the
  delivery rate of a sender of its own;
- `beside`: the same endpoint, delivered by the worker's own sender while it drains (the
  default deployment): the drain shares its process with the deliveries.

Every drain is timed from its first commit to its last (`bench/drain.py`), on the same ledger;
the worker's CPU per drained transaction is read from /proc when it stops."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import uvloop
from aiohttp import web

from bench import drain
from bench.environment import bench_parser, bench_settings, load_average, reset
from bench.processes import Service, _cpu_s
from bench.seed import BenchLedger, create_ledger, fund
from bench.workload import WalletPicker
from shared.ids import new_id
from shared.ops.verify import verify
from shared.settings import Settings
from shared.webhooks.signatures import new_secret

RESULTS_DIR = Path("bench/results")
VARIANTS = ("none", "apart", "beside")
DELIVERY_TIMEOUT_S = 900
POLL_S = 0.2


@dataclass
class Receiver:
    """Counts the deliveries it answers, by event id, with the first and the last time."""

    seen: set[str] = field(default_factory=set)
    requests: int = 0
    first_s: float = 0.0
    last_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        now = time.monotonic()
        if not self.requests:
            self.first_s = now
        self.requests += 1
        self.last_s = now
        self.seen.add(request.headers["webhook-id"])
        return web.Response(status=200)

    def reset(self) -> None:
        self.seen.clear()
        self.requests = 0


async def subscribe(settings: Settings, project_id: str, url: str | None) -> None:
    """Leave the project one live endpoint to `url` (subscribed to `*`), or none."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await connection.execute(
            "UPDATE webhook_endpoints SET deleted_at = now(), secret = NULL"
            " WHERE project_id = $1 AND deleted_at IS NULL",
            project_id,
        )
        await connection.execute("DELETE FROM webhook_deliveries")
        if url is not None:
            await connection.execute(
                "INSERT INTO webhook_endpoints (id, project_id, url, events, secret)"
                " VALUES ($1, $2, $3, $4, $5)",
                new_id(),
                project_id,
                url,
                ["*"],
                new_secret(),
            )
    finally:
        await connection.close()


async def delivered(
    receiver: Receiver, count: int, sender: Service | None
) -> tuple[float, float | None]:
    """Wait until the receiver has seen `count` distinct events: the seconds it took, and the
    CPU seconds `sender` spent from its first delivery on (its start-up left out)."""
    started = time.monotonic()
    sender_cpu_start_s = None
    while len(receiver.seen) < count:
        if time.monotonic() - started > DELIVERY_TIMEOUT_S:
            raise RuntimeError(f"{len(receiver.seen)} of {count} webhooks in time")
        if sender is not None and sender_cpu_start_s is None and receiver.requests:
            sender_cpu_start_s = _cpu_s(sender.pid)
        await asyncio.sleep(POLL_S / 10 if sender_cpu_start_s is None else POLL_S)
    waited_s = time.monotonic() - started
    if sender is None or sender_cpu_start_s is None:
        return waited_s, None
    sender_cpu_end_s = _cpu_s(sender.pid)
    return waited_s, None if sender_cpu_end_s is None else sender_cpu_end_s - sender_cpu_start_s


async def one_drain(
    arguments: argparse.Namespace,
    settings: Settings,
    ledger: BenchLedger,
    receiver: Receiver,
    log_dir: Path,
    variant: str,
    label: str,
) -> dict[str, Any]:
    """Queue, drain with one worker, and (with an endpoint) wait for every event's delivery."""
    await subscribe(settings, ledger.project_id, None if variant == "none" else arguments.url)
    receiver.reset()
    picker = WalletPicker(ledger.wallets, "uniform")
    prefix = label.replace("-", "")
    await drain.queue_messages(
        settings, ledger.project_id, picker, arguments.messages, prefix, seed=len(label)
    )
    worker_settings = settings.model_copy(update={"webhook_delivery": variant != "apart"})
    started = time.time()
    worker = Service.start("worker", worker_settings, log_dir, label)
    load_start = load_average()
    try:
        drained = await drain.wait_drained(
            settings, [ledger.project_id], prefix, arguments.messages, started
        )
        cpu_s = _cpu_s(worker.pid)
        result: dict[str, Any] = {
            "variant": variant,
            "rate_per_s": drained.rate_per_s,
            "commit_span_s": drained.commit_span_s,
            "worker_cpu_us_per_tx": None if cpu_s is None else cpu_s / arguments.messages * 1e6,
            "load_average_start": load_start,
        }
        sender = None
        if variant == "apart":
            sender = Service.launch("webhooks", settings, log_dir, label)
        if variant != "none":
            waited_s, sender_cpu_s = await delivered(receiver, arguments.messages, sender)
            span_s = max(receiver.last_s - receiver.first_s, 1e-6)
            result |= {
                "delivered": len(receiver.seen),
                "requests": receiver.requests,
                "delivery_rate_per_s": len(receiver.seen) / span_s,
                "delivered_after_drain_s": waited_s,
            }
            if sender_cpu_s is not None:
                result["sender_cpu_us_per_delivery"] = sender_cpu_s / arguments.messages * 1e6
        if sender is not None:
            sender.stop()
    finally:
        worker.stop()
    result["load_average_end"] = load_average()
    return result


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(
        arguments.namespace,
        arguments.redis_db,
        partition_count=arguments.partitions,
        webhook_allow_private=True,
        worker_metrics_port=0,
    )
    log_dir = RESULTS_DIR / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-webhooks")
    log_dir.mkdir(parents=True, exist_ok=True)
    await reset(settings)
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    arguments.url = f"http://{host}:{port}/hook"
    result: dict[str, Any] = {"messages": arguments.messages, "drains": []}
    try:
        services = [
            Service.start("worker", settings, log_dir, "seed"),
            Service.start("gateway", settings, log_dir, "seed"),
        ]
        try:
            ledger = await create_ledger(settings, arguments.wallets)
            await fund(settings, ledger)
        finally:
            for service in services:
                service.stop()
        for round_number in range(1, arguments.rounds + 1):
            # Every drain adds to the tables the next one writes to: the order of the variants
            # turns round after round, so that none of them always comes last.
            turn = (round_number - 1) % len(VARIANTS)
            for variant in VARIANTS[turn:] + VARIANTS[:turn]:
                label = f"r{round_number}-{variant}"
                one = await one_drain(
                    arguments, settings, ledger, receiver, log_dir, variant, label
                )
                print(label, orjson.dumps(one).decode(), flush=True)
                result["drains"].append(one)
        if arguments.verify:
            connection = await asyncpg.connect(settings.database_url.get_secret_value())
            try:
                report = await verify(connection, ledger.project_id)
            finally:
                await connection.close()
            result["ledger_consistent"] = report.ok
            result["violations"] = report.violations[:20]
    finally:
        await runner.cleanup()
    (log_dir / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


def summary(result: dict[str, Any]) -> list[str]:
    """Each variant's median drain rate, worker CPU per transaction and its cost against
    `none`, and the delivery rates."""
    lines = []
    rates = {
        variant: [d["rate_per_s"] for d in result["drains"] if d["variant"] == variant]
        for variant in VARIANTS
    }
    base = statistics.median(rates["none"])
    for variant in VARIANTS:
        drains = [d for d in result["drains"] if d["variant"] == variant]
        median = statistics.median(rates[variant])
        cpu = [d["worker_cpu_us_per_tx"] for d in drains if d["worker_cpu_us_per_tx"]]
        runs = ", ".join(f"{rate:,.0f}" for rate in rates[variant])
        line = (
            f"{variant:>6}: drain {median:,.0f} tx/s (runs {runs}),"
            f" {100 * (1 - median / base):+.1f}% slower than none"
        )
        if cpu:
            line += f", worker CPU {statistics.median(cpu):.0f} us/tx"
        delivery = [d["delivery_rate_per_s"] for d in drains if "delivery_rate_per_s" in d]
        if delivery:
            line += f", delivered {statistics.median(delivery):,.0f} webhooks/s"
        sender = [
            d["sender_cpu_us_per_delivery"] for d in drains if "sender_cpu_us_per_delivery" in d
        ]
        if sender:
            line += f" (the sender's CPU {statistics.median(sender):.0f} us each)"
        lines.append(line)
    return lines


def parser() -> argparse.ArgumentParser:
    p = bench_parser("python -m bench.webhooks", __doc__, partitions=8)
    p.set_defaults(namespace="benchhooks", redis_db=13)
    p.add_argument("--wallets", type=int, default=10_000)
    p.add_argument("--messages", type=int, default=30_000, help="queued before each drain")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the three drains")
    return p


def main() -> None:
    arguments = parser().parse_args()
    result = uvloop.run(run(arguments))
    for line in summary(result):
        print(line)
    if not result.get("ledger_consistent", True):
        print("the ledger check failed:", *result["violations"], sep="\n")


if __name__ == "__main__":
    main()
