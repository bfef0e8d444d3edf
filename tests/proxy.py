"""The tests' one TCP proxy on 127.0.0.1, put between one process and one service to take that
service away from that process only, without touching the shared server: `cut` resets every
connection and refuses new ones (the service is down), `pause` holds the bytes in both
directions (the network stalls), `restore` and `resume` undo them. `proxy_to` puts one in front
of a service for the length of a block, and `through` points the settings at it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr

from shared.settings import Settings

CHUNK_BYTES = 64 * 1024
POSTGRESQL_PORT = 5432
RABBITMQ_PORT = 5672
REDIS_PORT = 6379
URL_FIELDS = {POSTGRESQL_PORT: "database_url", RABBITMQ_PORT: "amqp_url", REDIS_PORT: "redis_url"}


class TcpProxy:
    """Forwards the connections it accepts to `target_host:target_port`; `port` is its own
    once started. `close` ends every connection and pump it has."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen (again, on the same port once it has one)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """The service goes away: established connections are reset, new ones refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        self.resume()
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, upstream_writer)),
            asyncio.create_task(self._pump(upstream_reader, writer)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)
        for side in (writer, upstream_writer):
            self._writers.discard(side)
            side.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                chunk = await reader.read(CHUNK_BYTES)
                if not chunk:
                    return
                await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()


@contextlib.asynccontextmanager
async def proxy_to(port: int) -> AsyncIterator[TcpProxy]:
    """A proxy in front of 127.0.0.1:`port`, started, and closed when the block ends."""
    proxy = TcpProxy("127.0.0.1", port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def through(settings: Settings, proxy: TcpProxy, **overrides: Any) -> Settings:
    """The settings with the URL of the proxy's service (`proxy.target_port`) pointing at the
    started proxy instead, and `overrides`, in one copy."""
    field = URL_FIELDS[proxy.target_port]
    url = getattr(settings, field).get_secret_value()
    direct = f"127.0.0.1:{proxy.target_port}/"
    if proxy.port == 0 or direct not in url:
        raise ValueError(f"{field} does not reach {direct}, or the proxy is not started")
    proxied = url.replace(direct, f"127.0.0.1:{proxy.port}/")
    return settings.model_copy(update={field: SecretStr(proxied), **overrides})
