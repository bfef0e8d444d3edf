"""The pure ledger core: the rules of balances and of wallet states, with no I/O and no clock.
It imports only the standard library and `shared.errors` (checked by the import contract)."""
