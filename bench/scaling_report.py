"""How `python -m bench.scaling` is printed: one block per drain, then the rates of each worker
count against the first's."""

from __future__ import annotations

from typing import Any


def cpu_per_transaction_us(result: dict[str, Any], name: str) -> float | None:
    """CPU time of `name` per drained message, in microseconds (CPU over the span from the
    workers' start to the last commit, divided by the messages)."""
    percent: float | None = result["cpu_percent"].get(name)
    if percent is None:
        return None
    return percent * 10_000 / float(result["wall_rate_per_s"])


def block(result: dict[str, Any]) -> list[str]:
    workers = result["workers"]
    worker_names = [f"worker-{number}" for number in range(1, workers + 1)]
    cpu = result["cpu_percent"]
    batches = result["batch_sizes"]
    per_tx = {
        name: cpu_per_transaction_us(result, name)
        for name in [*worker_names, "postgres", "rabbitmq", "redis", "machine"]
    }
    workers_us = sum(per_tx[name] or 0.0 for name in worker_names)
    steady = result["steady_rate_per_s"]
    start = "the leases' release" if result["start"] == "gated" else "the workers' start"
    lines = [
        f"[{workers} worker process(es), {result['start']}] {result['messages']} one-transfer"
        f" messages over {result['projects']} projects on {result['partitions']} partitions"
        f" ({result['queued_per_s']:.0f} msg/s to queue); load average"
        f" {result['load_average_start']} at {start}, {result['load_average_end']} at the end",
        f"  drain rate {result['rate_per_s']:.0f} tx/s (first to last commit, over"
        f" {result['commit_span_s']:.1f} s); {result['wall_rate_per_s']:.0f} tx/s from {start}",
        f"  leases settled {result['steady_after_s']:.1f} s after {start}, shares"
        f" {result['shares']}; from then on {result['steady_transactions']} tx at"
        f" {'-' if steady is None else f'{steady:.0f}'} tx/s",
        f"  worker batches: {batches.get('batches', 0)}, size mean {batches.get('mean', 0):.1f},"
        f" p50 {batches.get('p50', 0)}, max {batches.get('max', 0)}",
        "  CPU (% of one core): "
        + ", ".join(f"{name} {cpu[name]:.0f}%" for name in per_tx if cpu.get(name) is not None),
        "  CPU per transaction: "
        + ", ".join(f"{name} {value:.0f} us" for name, value in per_tx.items() if value)
        + f"; all workers {workers_us:.0f} us",
        "  waiting for a core (runnable, not running; % of the drain): "
        + ", ".join(
            f"{name} {value:.0f}%"
            for name, value in result["waited_for_cpu_percent"].items()
            if value is not None
        ),
        "  peak RSS: "
        + ", ".join(f"{name} {value:.0f} MB" for name, value in result["peak_rss_mb"].items()),
        "  broker connection reopened (from the logs): "
        + ", ".join(f"{name} {count}x" for name, count in result["reconnects"].items()),
    ]
    lines.extend(
        f"  {name} EXITED during the drain (code {code}); see {result['logs'][name]}"
        for name, code in result["exited"].items()
    )
    if "ledger_consistent" in result:
        verdict = "consistent" if result["ledger_consistent"] else "INCONSISTENT"
        lines.append(f"  ledger check (cloudwallet verify) after the drain: {verdict}")
        lines.extend(f"    {violation}" for violation in result["violations"])
    return lines


RATES = (
    ("drain", "rate_per_s"),
    ("from the start", "wall_rate_per_s"),
    ("after the leases settled", "steady_rate_per_s"),
)


def mean_rates(runs: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Each rate averaged over the runs of each worker count (a rate a run lacks is left out)."""
    rates: dict[int, dict[str, float]] = {}
    for workers in dict.fromkeys(run["workers"] for run in runs):
        same = [run for run in runs if run["workers"] == workers]
        rates[workers] = {}
        for _, key in RATES:
            values = [run[key] for run in same if run[key]]
            if values:
                rates[workers][key] = sum(values) / len(values)
    return rates


def ratios(runs: list[dict[str, Any]]) -> list[str]:
    """The mean rates of each worker count against those of the first run's count."""
    rates = mean_rates(runs)
    base_workers = runs[0]["workers"]
    base = rates[base_workers]
    counts = {workers: sum(run["workers"] == workers for run in runs) for workers in rates}
    lines = []
    for workers, rate in rates.items():
        if workers == base_workers:
            continue
        parts = [
            f"{label} {rate[key] / base[key]:.2f}x ({rate[key]:.0f} / {base[key]:.0f} tx/s)"
            for label, key in RATES
            if key in rate and key in base
        ]
        lines.append(
            f"ratio {workers} workers / {base_workers}"
            f" (mean of {counts[workers]} / {counts[base_workers]} runs): " + "; ".join(parts)
        )
    return lines


def print_report(result: dict[str, Any]) -> None:
    lines = [
        "",
        "=" * 100,
        f"cloudwallet scaling benchmark, {result['started']}",
        result["command"],
    ]
    lines.append(
        f"load average (1/5/15 min) at start {result['load_average_start']},"
        f" at end {result['load_average_end']}"
    )
    for run in result["runs"]:
        lines.extend(block(run))
    lines.extend(ratios(result["runs"]))
    print("\n".join(lines))
