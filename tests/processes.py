"""Starting and stopping `cloudwallet` processes for the suites that run the service as in
production (e2e, faults, schemathesis): one way to pick a port, start, and stop."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from shared.settings import Settings
from tests.support import settings_environment

STARTUP_TIMEOUT_S = 30
SHUTDOWN_TIMEOUT_S = 20


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_cloudwallet(
    command: str, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`cloudwallet <command>` with `settings` as its environment, its output in `log_path`."""
    executable = str(Path(sys.executable).with_name("cloudwallet"))
    environment = settings_environment(settings) | (extra_env or {})
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [executable, command], env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )


def stop_process(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    return int(process.returncode)
