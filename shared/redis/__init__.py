"""Redis: reference-ID reservations and transaction states (a cache, never the truth), through
redis-py's client. Redis errors are translated here."""
