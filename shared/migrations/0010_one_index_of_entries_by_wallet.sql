-- One index of a wallet's entries rather than two (docs/decisions/0024-one-index-of-entries-by-wallet.md):
-- the ledger lists a wallet's entries by time of posting, then id, on `entries_wallet_time
-- (wallet_id, created_at, id)` (migration 0007), which balances in time already descend, so
-- `entries_wallet (wallet_id, id)` is dropped and the writer's insert of each entry updates
-- one index of wallets fewer. Nothing else reads it.
DROP INDEX IF EXISTS entries_wallet;
