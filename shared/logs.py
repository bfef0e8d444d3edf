"""Logging for every process: text lines (the default) or JSON lines
(`CLOUDWALLET_LOG_FORMAT=json`), the least level written (`CLOUDWALLET_LOG_LEVEL`), and the
request id of the request being served, which the gateway sets per request (`REQUEST_ID`) and
every line logged meanwhile carries.

Operating errors are logged in one line: a record that carries a lost or refused connection
(asyncpg's and aio-pika's own lines while a service is down) loses its traceback, and keeps
the error's type and message. A programmer error keeps its traceback (in JSON, as the
`traceback` field of its one line)."""

from __future__ import annotations

import logging
import sys
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


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Write the process's log lines to stderr in `log_format`, from `level` up (replacing any
    handler configured before)."""
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
