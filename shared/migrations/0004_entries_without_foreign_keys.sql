-- Entries are written by the partition's single writer only, for wallets it has just locked and
-- transactions it inserts in the same statement: their two foreign keys could never fire, yet
-- PostgreSQL checked every entry row against both (a third of the database's time for a
-- 1,000-transfer batch; docs/performance.md, runs 6 and 7). `cloudwallet verify` checks instead
-- that every entry names an existing wallet and transaction of one project (shared/verify.py).
ALTER TABLE entries DROP CONSTRAINT entries_wallet_id_fkey;
ALTER TABLE entries DROP CONSTRAINT entries_transaction_id_fkey;
