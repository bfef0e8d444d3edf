"""The HTTP gateway: parse, authenticate, publish or query, answer."""
