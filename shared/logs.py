"""Logging for every process: text lines (the default) or JSON lines
(`CLOUDWALLET_LOG_FORMAT=json`), the least level written (`CLOUDWALLET_LOG_LEVEL`), and the
request id of the request being served, which the gateway sets per request (`REQUEST_ID`) and
every line logged meanwhile carries.

Operating errors are logged in one line: a record that carries a lost or refused connection
(asyncpg's and aio-pika's own lines while a service is down) loses its traceback, and keeps
the error's type and message. A programmer error keeps its traceback (in JSON, as the
`traceback` field of its one line)."""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import aiormq.exceptions
import asyncpg
import orjson
import redis.exceptions

# The request id of the request this task serves, if any (gateway/middleware.py sets it).
REQUEST_ID: ContextVar[str | None] = ContextVar("cloudwallet_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The attributes of a record that a JSON line carries as fields of its own: `extra=` of a log
# call names them (the access log's, say).
FIELDS_ATTRIBUTE = "fields"


def operating_error_types() -> tuple[type[BaseException], ...]:
    """The errors of a service that is down, stalled or gone: logged without a traceback."""
    return (
        OSError,  # refused, reset, unreachable; TimeoutError too
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
        asyncpg.AdminShutdownError,
        asyncpg.TooManyConnectionsError,
        aiormq.exceptions.AMQPConnectionError,
        aiormq.exceptions.ChannelInvalidStateError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    )


class OneLineOperatingErrors(logging.Filter):
    """Drops the traceback of a record whose error is an operating one, naming the error in
    the message instead."""

    def __init__(self, operating: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self._operating = operating

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], self._operating):
            record.msg = f"{record.getMessage()} ({type(exc_info[1]).__name__}: {exc_info[1]})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


class TextFormatter(logging.Formatter):
    """The default format, with ` request=<id>` at the end of a line about a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        return line if request_id is None else f"{line} request={request_id}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request id
    (`requestId`) when there is one, the record's own fields, and a traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id is not None:
            entry["requestId"] = request_id
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class HotLog:
    """Lines written on a hot path, one per request or transaction (the gateway's access log,
    the worker's applied transactions), without the logging module's work per record: making
    a LogRecord and formatting it cost 10-15 us, the gateway's whole budget for what issue 26
    adds to a request (docs/decisions/0020-operating-signals.md). Once `configure_logging` has
    run, a line is formatted here, in the same text or JSON shape as the other lines, and
    buffered: written to stderr at most `HOT_LOG_FLUSH_MS` later, at once when
    `HOT_LOG_LINES_MAX` are waiting, and at exit. Before (a process that configured no
    logging, the tests' own), each line is an ordinary log record of logger `name`, with
    `request_id` and `fields` as attributes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger = logging.getLogger(name)
        self._pending: list[str] = []
        self._flush_scheduled = False
        _HOT_LOGS.append(self)

    def enabled(self) -> bool:
        """Whether INFO lines of this logger are written."""
        return self._logger.isEnabledFor(logging.INFO)

    def wants_fields(self) -> bool:
        """Whether a line's fields are written (JSON lines, and records): a text line has
        none, and its caller need not make them."""
        return _CONFIGURED.get("format") != "text"

    def info(
        self, message: str, request_id: str | None, fields: dict[str, Any] | None = None
    ) -> None:
        """Write one INFO line (the caller checks `enabled` first)."""
        configured = _CONFIGURED.get("format")
        if configured is None:
            extra = {"request_id": request_id, FIELDS_ATTRIBUTE: fields or {}}
            self._logger.info("%s", message, extra=extra)
            return
        now_s = time.time()
        if configured == "json":
            entry = {"time": _utc_time(now_s), "level": "INFO", "logger": self.name}
            entry["message"] = message
            if request_id is not None:
                entry["requestId"] = request_id
            if fields:
                entry.update(fields)
            line = orjson.dumps(entry).decode()
        else:
            suffix = "" if request_id is None else f" request={request_id}"
            line = f"{_local_time(now_s)} INFO {self.name}: {message}{suffix}"
        self._pending.append(line)
        if len(self._pending) >= HOT_LOG_LINES_MAX:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(HOT_LOG_FLUSH_MS / 1000, self.flush)

    def flush(self) -> None:
        """Write the waiting lines."""
        self._flush_scheduled = False
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        stream = sys.stderr
        stream.write("\n".join(lines) + "\n")
        stream.flush()


HOT_LOG_FLUSH_MS = 100
HOT_LOG_LINES_MAX = 256
_HOT_LOGS: list[HotLog] = []
_CONFIGURED: dict[str, str] = {}  # "format", once configure_logging has run
_SECONDS: dict[str, tuple[int, str]] = {}  # the last whole second formatted, per clock


def _local_time(now_s: float) -> str:
    """As the text format's asctime: `2026-12-06 19:40:02,118` (local time)."""
    second = int(now_s)
    cached = _SECONDS.get("local")
    if cached is None or cached[0] != second:
        cached = _SECONDS["local"] = (
            second,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)),
        )
    return f"{cached[1]},{int((now_s - second) * 1000):03d}"


def _utc_time(now_s: float) -> str:
    """As the JSON format's time: `2026-12-06T19:40:02.118+00:00`."""
    second = int(now_s)
    cached = _SECONDS.get("utc")
    if cached is None or cached[0] != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        cached = _SECONDS["utc"] = (second, text)
    return f"{cached[1]}.{int((now_s - second) * 1000):03d}+00:00"


def flush_hot_logs() -> None:
    """Write every HotLog's waiting lines (at exit, and by a process that stops)."""
    for hot_log in _HOT_LOGS:
        hot_log.flush()


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Write the process's log lines to stderr in `log_format`, from `level` up (replacing any
    handler configured before)."""
    if not _CONFIGURED:
        atexit.register(flush_hot_logs)
    _CONFIGURED["format"] = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(OneLineOperatingErrors(operating_error_types()))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    # While the broker is down, aiormq logs every failed attempt at ERROR and aio-pika every
    # reconnection at INFO, a line a second each: our own modules say in one line which
    # service cannot be reached (shared/services.py, worker/intake.py), and /ready names it.
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)
    logging.getLogger("aio_pika.robust_connection").setLevel(logging.WARNING)
