"""Sampling profiles of the gateway and the worker during a benchmark scenario (`--profile`):
py-spy attaches to each process and writes collapsed stacks; `summarize` turns them into the
share of samples spent in each function, inclusive and self.

`python -m bench.profiles FILE.raw [TOP]` prints the summary of one file."""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

SAMPLE_RATE_HZ = 100
_FRAME = re.compile(r"(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def attach(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample `pid` until it exits; idle time (waiting for I/O) is left out."""
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(SAMPLE_RATE_HZ),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    file = match["file"].split("site-packages/")[-1]
    file = re.sub(r"^.*?/(gateway|worker|shared|bench)/", r"\1/", file)
    return f"{match['function']} ({file})"


def summarize(raw: Path, top: int = 40) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        names = [_name(frame) for frame in stack.split(";")]
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    if total == 0:
        return f"{raw.name}: no samples"
    lines = [f"{raw.name}: {total} samples while busy", "inclusive:"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top // 2)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40))
