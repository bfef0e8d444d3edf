"""Hand-written protocol code that reaches into the AMQP libraries' internals, kept only because
side-by-side benchmarks measured the worker spending at least 20% more CPU per transaction
without it (docs/decisions/0011-hand-written-protocol-code.md). Everything else uses the
libraries' public APIs.

- `frames.py`: aiormq's frame receiver reading a chunk of frames per read, and decoding a
  delivery's frames and the broker's acks itself, into pamqp's classes;
- `channels.py`: aiormq channels that call a writer's `InlineConsumer` as each delivery is
  read, with no task, and queue more frames than aiormq's 10; `InlineQueue`, aio-pika's robust
  queue consuming with one and restoring it after a reconnect; `install()`, which puts the
  receiver and the channels in every aiormq connection of the process.
- `confirms.py`: `publish_many`, many messages written at once under one confirmation counter
  filed in aiormq's confirmation table.

`WRITTEN_FOR` names the versions this code was written and measured with: pyproject.toml pins
the same (`~=`), and tests/unit/test_library_versions.py fails on any other installed version
and on a library that no longer has what this code reaches for."""

# distribution name -> compatible-release specifier, as in pyproject.toml's dependencies
WRITTEN_FOR = {"aiormq": "~=7.2.4", "aio-pika": "~=10.2.1", "pamqp": "~=4.0.1"}
