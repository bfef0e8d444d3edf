"""RabbitMQ: the topology, publishing with confirms, the frame reader and the client for
internal services. The broker's errors are translated here (`broker.broker_errors`)."""
