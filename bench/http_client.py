"""A lean HTTP/1.1 client for the load generator: keep-alive connections that each carry one
prebuilt request at a time and hand back the status and body. It parses only what the gateway
sends (a status line, headers with Content-Length, a body), so that the load generator spends
its core on sending, not on a general-purpose client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

ResponseHandler = Callable[["Connection", int, bytes], None]
HEADERS_SIZE_MAX = 64 * 1024


class Connection(asyncio.Protocol):
    """One keep-alive connection; `send` one request, `on_response` gets its answer."""

    def __init__(self, on_response: ResponseHandler, on_lost: Callable[[Connection], None]) -> None:
        self._on_response = on_response
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._status = 0
        self._body_start = -1
        self._body_length = 0
        self.busy = False
        self.token: object = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._transport = None
        self._on_lost(self)

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send(self, request: bytes, token: object) -> None:
        if self._transport is None or self.busy:
            raise RuntimeError("send on a closed or busy connection")
        self.busy = True
        self.token = token
        self._transport.write(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._body_start < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > HEADERS_SIZE_MAX:
                    self.close()
                return
            head = bytes(self._buffer[:end]).lower()
            self._status = int(head[9:12])
            marker = head.find(b"\r\ncontent-length:")
            if marker < 0:
                self.close()
                return
            line_end = head.find(b"\r\n", marker + 2)
            value = head[marker + 17 : line_end if line_end >= 0 else len(head)]
            self._body_length = int(value.strip())
            self._body_start = end + 4
        if len(self._buffer) < self._body_start + self._body_length:
            return
        body_end = self._body_start + self._body_length
        body = bytes(self._buffer[self._body_start : body_end])
        del self._buffer[:body_end]
        self._body_start = -1
        self.busy = False
        self._on_response(self, self._status, body)


def build_request(host: str, path: str, api_key: str, body: bytes) -> bytes:
    """A complete POST request with a JSON body."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body
