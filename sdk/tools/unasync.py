"""Generate the synchronous client (`cloudwallet_client/_sync/`) from the asynchronous one
(`cloudwallet_client/_async/`), as httpcore does: the same code with `async`/`await` taken out
and the asynchronous names replaced by their synchronous counterparts, then formatted.

    python sdk/tools/unasync.py          # write _sync/
    python sdk/tools/unasync.py --check  # exit 1 if _sync/ is not what _async/ generates

tests/unit/test_sdk_unasync.py runs the check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cloudwallet_client"
SOURCE, TARGET = PACKAGE / "_async", PACKAGE / "_sync"
# In order: whole words first, then the prefixes.
REPLACEMENTS = (
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\basyncio\.Lock\b", "threading.Lock"),
    (r"^import asyncio$", "import threading"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\b_async\b", "_sync"),
    (r"\basynchronous\b", "synchronous"),
    (r"`sdk/tools/unasync.py`: edit this one", "`sdk/tools/unasync.py` from `_async/`"),
    # An asynchronous generator cannot `yield from`; a synchronous one says it so.
    (r"for (\w+) in ([\w.]+):\n\s+yield \1$", r"yield from \2"),
)


def unasync(text: str) -> str:
    """The synchronous version of one module of `_async/`, before formatting."""
    for pattern, replacement in REPLACEMENTS:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    return text


def formatted(text: str, name: str) -> str:
    """`text` as ruff formats it, imports sorted (the project's ruff settings)."""
    ruff = str(Path(sys.executable).with_name("ruff"))
    root = PACKAGE.parents[1]
    filename = str(TARGET / name)
    for command in (
        [ruff, "check", "--select", "I,F401", "--fix", "--stdin-filename", filename, "-"],
        [ruff, "format", "--stdin-filename", filename, "-"],
    ):
        text = subprocess.run(
            command, input=text, capture_output=True, text=True, check=True, cwd=root
        ).stdout
    return text


def generated() -> dict[str, str]:
    """Every module of `_sync/`, by file name, as `_async/` generates it."""
    return {
        source.name: formatted(unasync(source.read_text()), source.name)
        for source in sorted(SOURCE.glob("*.py"))
    }


def main() -> int:
    expected = generated()
    if "--check" in sys.argv[1:]:
        stale = [
            name
            for name, text in expected.items()
            if not (TARGET / name).exists() or (TARGET / name).read_text() != text
        ]
        extra = {path.name for path in TARGET.glob("*.py")} - set(expected)
        for name in [*stale, *sorted(extra)]:
            print(f"cloudwallet_client/_sync/{name} is not what _async/ generates", file=sys.stderr)
        return 1 if stale or extra else 0
    TARGET.mkdir(exist_ok=True)
    for name, text in expected.items():
        (TARGET / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
