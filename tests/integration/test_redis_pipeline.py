"""The pipelined Redis connection against the real Redis (and a server that never answers):
concurrent commands each get their own reply, in the namespace's database; an error reply fails
only its command; an unreachable or silent server is a RedisError within the timeout, and the
next command connects again; once closed, it keeps no connection, even one being made."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError, RedisError, ResponseError, TimeoutError

from shared.ids import new_id
from shared.redis.pipeline import PipelinedConnection
from tests.support import namespace_settings

TIMEOUT_S = 0.5


@pytest.fixture
async def pipeline() -> AsyncIterator[PipelinedConnection]:
    url = namespace_settings().redis_url.get_secret_value()
    connection = PipelinedConnection.from_url(url, timeout_s=2)
    assert connection is not None
    yield connection
    connection.close()


async def test_concurrent_commands_get_their_own_replies_in_the_right_database(
    pipeline: PipelinedConnection,
) -> None:
    keys = [f"cw:test:pipeline:{new_id()}" for _ in range(200)]
    await asyncio.gather(
        *(pipeline.execute("SET", key, index, "EX", 60) for index, key in enumerate(keys))
    )
    replies = await asyncio.gather(*(pipeline.execute("GET", key) for key in keys))
    assert replies == [str(index).encode() for index in range(len(keys))]
    client = redis.Redis.from_url(namespace_settings().redis_url.get_secret_value())
    try:
        assert await client.get(keys[7]) == b"7"
    finally:
        await client.aclose()


async def test_an_error_reply_fails_only_its_command(pipeline: PipelinedConnection) -> None:
    key = f"cw:test:pipeline:{new_id()}"
    replies = await asyncio.gather(
        pipeline.execute("SET", key, "text", "EX", 60),
        pipeline.execute("INCR", key),
        pipeline.execute("GET", key),
        return_exceptions=True,
    )
    assert replies[0] == b"OK"
    assert isinstance(replies[1], ResponseError)
    assert replies[2] == b"text"


async def test_an_unreachable_server_is_a_connection_error() -> None:
    unreachable = PipelinedConnection.from_url("redis://127.0.0.1:1/0", timeout_s=TIMEOUT_S)
    assert unreachable is not None
    with pytest.raises(ConnectionError):
        await unreachable.execute("PING")


async def test_a_silent_server_times_out_every_command_and_the_next_one_reconnects() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def never_answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = PipelinedConnection.from_url(f"redis://127.0.0.1:{port}/0", timeout_s=TIMEOUT_S)
    assert silent is not None
    try:
        started = asyncio.get_running_loop().time()
        replies = await asyncio.gather(
            *(silent.execute("PING") for _ in range(3)), return_exceptions=True
        )
        assert asyncio.get_running_loop().time() - started < TIMEOUT_S * 4
        assert all(isinstance(reply, RedisError) for reply in replies)
        assert any(isinstance(reply, TimeoutError) for reply in replies)
        with pytest.raises(TimeoutError):
            await silent.execute("PING")
        assert len(connections) == 2
    finally:
        silent.close()
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_closed_while_connecting_it_keeps_no_connection_and_refuses_commands() -> None:
    """A command still connecting when the connection is closed (the gateway stopping) fails,
    leaves no open socket behind, and so does every command after the close."""
    url = namespace_settings().redis_url.get_secret_value()
    connection = PipelinedConnection.from_url(url, timeout_s=2)
    assert connection is not None
    first = asyncio.create_task(connection.execute("PING"))
    await asyncio.sleep(0)  # the command has started to connect
    connection.close()
    with pytest.raises(ConnectionError):
        await first
    with pytest.raises(ConnectionError):
        await connection.execute("PING")
    assert connection._protocol is None or connection._protocol.closed


def test_urls_it_does_not_speak_are_left_to_redis_py() -> None:
    assert PipelinedConnection.from_url("rediss://127.0.0.1:6379/0", timeout_s=1) is None
    assert PipelinedConnection.from_url("unix:///tmp/redis.sock", timeout_s=1) is None
