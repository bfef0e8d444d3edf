"""RabbitMQ: the topology, publishing with confirms and the client for internal services. The
broker's errors are translated here (`broker.broker_errors`); the protocol code that reaches
into aiormq and aio-pika lives in `shared/fastpath/`."""
