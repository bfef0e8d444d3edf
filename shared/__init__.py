"""What the gateway, the worker and internal publishers share: settings, the message
schema, the partition function, the pure ledger core, error codes and the broker topology."""
