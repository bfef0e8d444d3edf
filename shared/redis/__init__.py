"""Redis: reference-ID reservations and transaction states (a cache, never the truth), over a
pipelined connection. Redis errors are translated here."""
