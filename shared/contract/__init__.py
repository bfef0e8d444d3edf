"""Wire formats shared by the gateway, the worker and internal publishers: the queue messages,
the partition function and the rules of caller-chosen text."""
