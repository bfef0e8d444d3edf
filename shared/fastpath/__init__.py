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
  filed in aiormq's confirmation table."""
