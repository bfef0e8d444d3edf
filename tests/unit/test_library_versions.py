"""shared/fastpath/ reaches into aiormq's, aio-pika's and pamqp's internals
(docs/decisions/0011-hand-written-protocol-code.md): these tests fail, naming the library and
what to do, when an installed version is outside what that code was written for, when
pyproject.toml's pins and `WRITTEN_FOR` disagree, or when a library no longer has an internal
the code uses (pamqp's classes, which the frame reader fills itself, are compared with pamqp's
own decoding in tests/unit/test_amqp_frames.py)."""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib import metadata
from pathlib import Path

import aiormq.channel
import aiormq.connection
import aiormq.tools
import pytest
from aio_pika import RobustQueue
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from shared.fastpath import WRITTEN_FOR
from shared.fastpath.channels import InlineConsumer, InlineQueue
from shared.fastpath.confirms import _Confirms
from shared.fastpath.frames import BufferedFrameReceiver

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# What `BufferedChannel` and `publish_many` read or write on an aiormq channel, set by its
# constructor.
AIORMQ_CHANNEL_STATE = (
    "consumers",
    "confirmations",
    "message_id_delivery_tag",
    "delivery_tag",
    "frames",
    "max_content_size",
    "number",
    "publisher_confirms",
    "write_queue",
)


@pytest.mark.parametrize("distribution", sorted(WRITTEN_FOR))
def test_the_installed_version_is_one_the_fast_path_was_written_for(distribution: str) -> None:
    installed = metadata.version(distribution)
    written_for = SpecifierSet(WRITTEN_FOR[distribution])
    if not written_for.contains(installed, prereleases=True):
        pytest.fail(
            f"{distribution} {installed} is installed, but shared/fastpath/ was written for"
            f" {distribution}{written_for} and reaches into its internals. Run the fast path's"
            " tests and the side-by-side benchmark of"
            " docs/decisions/0011-hand-written-protocol-code.md against it, then move the pin in"
            " pyproject.toml and shared/fastpath WRITTEN_FOR together, or take the library's"
            " public API instead.",
            pytrace=False,
        )


def test_pyproject_pins_what_the_fast_path_was_written_for() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = {
        requirement.name: str(requirement.specifier)
        for requirement in map(Requirement, dependencies)
    }
    for distribution, specifier in WRITTEN_FOR.items():
        assert pins.get(distribution) == specifier, (
            f"pyproject.toml pins {distribution}{pins.get(distribution, ' (nothing)')}, but"
            f" shared/fastpath was written for {distribution}{specifier}"
        )


def test_aiormq_still_has_what_the_fast_path_uses() -> None:
    # install() replaces the classes that aiormq's connection looks up in its module: the frame
    # receiver when it connects, the channel when it opens one.
    # aiormq's own classes, whether or not install() already ran in this process.
    receiver, channel = BufferedFrameReceiver.__bases__[0], aiormq.channel.Channel
    assert receiver.__module__ == "aiormq.connection", receiver
    assert "FrameReceiver(reader)" in inspect.getsource(aiormq.connection.Connection)
    assert "Channel(" in inspect.getsource(aiormq.connection.Connection.channel)
    assert issubclass(aiormq.connection.Channel, channel)
    # BufferedFrameReceiver keeps aiormq's reading for the handshake, until `started`.
    assert list(inspect.signature(receiver.__init__).parameters) == ["self", "reader"]
    assert "self.started" in inspect.getsource(receiver.__init__)
    assert inspect.iscoroutinefunction(receiver.get_frame)
    # BufferedChannel overrides and calls these, and names its constructor's parameters.
    assert list(inspect.signature(channel._on_deliver_frame).parameters) == ["self", "frame"]
    assert list(inspect.signature(channel._get_frame).parameters) == ["self"]
    assert list(inspect.signature(channel._read_content).parameters) == ["self", "frame", "header"]
    assert list(inspect.signature(channel.__init__).parameters) == [
        "self",
        "connector",
        "number",
        "publisher_confirms",
        "frame_buffer",
        "on_return_raises",
    ]
    assert isinstance(channel.CHANNEL_CLOSE_TIMEOUT, int | float)
    assert isinstance(inspect.getattr_static(channel, "lock"), property)
    constructor = inspect.getsource(channel.__init__)
    missing = [name for name in AIORMQ_CHANNEL_STATE if f"self.{name}" not in constructor]
    assert not missing, f"aiormq's Channel no longer sets {missing}"
    # publish_many's counter answers aiormq wherever it settles what `confirmations` holds.
    settling = "".join(
        inspect.getsource(method)
        for method in (
            channel._confirm_delivery,
            channel._on_confirm_frame,
            channel._on_return_frame,
        )
    )
    used = set(re.findall(r"\bconfirmation\.(\w+)", settling))
    assert used <= {"done", "cancelled", "set_result", "set_exception"}, used
    assert all(hasattr(_Confirms, name) for name in used)
    # An InlineConsumer is recognised through the wrapper aiormq puts around a plain callable.
    inline = InlineConsumer(lambda message: None)
    assert getattr(aiormq.tools.awaitable(inline), "__wrapped__", None) is inline


def test_aio_pika_still_restores_consumers_from_its_table() -> None:
    assert "_consumers" in RobustQueue.__slots__
    restore = inspect.getsource(RobustQueue.restore)
    assert "self._consumers.items()" in restore
    assert "self.consume(consumer_tag=consumer_tag, **kwargs)" in restore
    # InlineQueue records the keyword arguments its own consume takes, as RobustQueue does.
    recorded = {"callback", "no_ack", "exclusive", "arguments"}
    assert recorded | {"self", "consumer_tag"} == set(
        inspect.signature(InlineQueue.consume).parameters
    )
    assert recorded <= set(inspect.signature(RobustQueue.consume).parameters)
