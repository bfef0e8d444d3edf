"""Log lines (shared/logs.py): JSON lines are one parseable object each with the request id of
the request being served and the record's own fields; text lines end with the request id; an
operating error (a refused connection) loses its traceback and is named in the line, a
programmer error keeps it; the level setting is applied."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from shared.logs import (
    FIELDS_ATTRIBUTE,
    HOT_LOG_LINES_MAX,
    REQUEST_ID,
    HotLog,
    JsonFormatter,
    OneLineOperatingErrors,
    TextFormatter,
    configure_logging,
    operating_error_types,
)


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("cloudwallet.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def failed_record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        made = logging.LogRecord(
            "asyncpg.pool", logging.ERROR, __file__, 1, "connection failed", None, sys.exc_info()
        )
    return made


@pytest.fixture
def request_id() -> Iterator[str]:
    token = REQUEST_ID.set("req-1")
    yield "req-1"
    REQUEST_ID.reset(token)


def test_a_json_line_is_one_object_with_the_request_id_and_the_record_fields(
    request_id: str,
) -> None:
    line = JsonFormatter().format(
        record("%s answered", "GET", **{FIELDS_ATTRIBUTE: {"status": 200, "keyId": "k1"}})
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "GET answered"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "cloudwallet.test"
    assert entry["requestId"] == request_id
    assert entry["status"] == 200
    assert entry["keyId"] == "k1"
    assert entry["time"].endswith("+00:00")


def test_a_record_s_own_request_id_wins_over_the_task_s() -> None:
    entry = json.loads(JsonFormatter().format(record("applied", request_id="from-message")))
    assert entry["requestId"] == "from-message"
    assert "requestId" not in json.loads(JsonFormatter().format(record("no request")))


def test_a_text_line_ends_with_the_request_id(request_id: str) -> None:
    assert TextFormatter().format(record("served")).endswith(f"served request={request_id}")


def test_an_operating_error_is_one_line_and_a_programmer_error_keeps_its_traceback() -> None:
    one_line = OneLineOperatingErrors(operating_error_types())
    refused = failed_record(ConnectionRefusedError(111, "Connection refused"))
    assert one_line.filter(refused)
    line = JsonFormatter().format(refused)
    assert "traceback" not in json.loads(line)
    assert "ConnectionRefusedError" in json.loads(line)["message"]
    bug = failed_record(KeyError("a bug"))
    assert one_line.filter(bug)
    assert "Traceback" in json.loads(JsonFormatter().format(bug))["traceback"]


def test_configure_logging_sets_the_level_and_the_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    # The process's configuration is the test's own: later tests' log lines stay records.
    monkeypatch.setattr("shared.logs._CONFIGURED", {})
    try:
        configure_logging("WARNING", "json")
        logging.getLogger("cloudwallet.test").info("not written")
        logging.getLogger("cloudwallet.test").warning("written")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["written"]


async def test_a_hot_log_writes_the_same_shapes_buffered_and_records_before_configuration(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hot = HotLog("cloudwallet.hot")
    caplog.set_level(logging.INFO)
    hot.info("served", "req-2", {"status": 202})
    (made,) = [one for one in caplog.records if one.name == "cloudwallet.hot"]
    assert made.getMessage() == "served"
    assert made.request_id == "req-2"  # type: ignore[attr-defined]
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr("shared.logs._CONFIGURED", {"format": "json"})
    hot.info("served", "req-3", {"status": 202})
    assert stream.getvalue() == ""  # buffered until the flush
    hot.flush()
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "served"
    assert entry["requestId"] == "req-3"
    assert entry["status"] == 202
    assert entry["logger"] == "cloudwallet.hot"
    monkeypatch.setattr("shared.logs._CONFIGURED", {"format": "text"})
    for _ in range(HOT_LOG_LINES_MAX):  # a full buffer is written at once
        hot.info("many", None, {})
    assert stream.getvalue().count("INFO cloudwallet.hot: many") == HOT_LOG_LINES_MAX
