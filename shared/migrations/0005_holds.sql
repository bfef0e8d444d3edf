-- Holds (docs/decisions/0017-holds-storage-and-expiry.md): a wallet's held balance, the holds
-- themselves, and the held balance every entry leaves its wallet at. Works on a database with
-- data: the new columns have constant defaults (no table rewrite), every existing wallet and
-- entry holds nothing, and only the entries' type check is validated against existing rows.

ALTER TABLE wallets
    ADD COLUMN held numeric(39, 0) NOT NULL DEFAULT 0;
-- One check for both, so that a statement setting a wallet's balance and held balance together
-- is checked on the pair: available (balance - held) is never below 0.
ALTER TABLE wallets
    ADD CONSTRAINT wallets_held_check CHECK (held >= 0 AND held <= balance);

ALTER TABLE entries
    ADD COLUMN held_after numeric(39, 0) NOT NULL DEFAULT 0 CHECK (held_after >= 0);
ALTER TABLE entries DROP CONSTRAINT entries_type_check;
ALTER TABLE entries ADD CONSTRAINT entries_type_check
    CHECK (type IN ('Issue', 'Redeem', 'Debit', 'Credit', 'Hold', 'Release'));

-- One row per hold, written only by its partition's writer: inserted Pending by the
-- transaction that made it (or already resolved, when the same batch resolved it), updated once
-- when it resolves. `partition` is the partition of its project, for the expiry scanner of the
-- partition's owner. No foreign keys, as for entries (0004): the writer inserts a hold for
-- wallets it has just locked, and `cloudwallet verify` checks that every hold names wallets of
-- its project.
CREATE TABLE holds (
    id                          text PRIMARY KEY,
    project_id                  text NOT NULL,
    partition                   integer NOT NULL CHECK (partition >= 0),
    wallet_id                   text NOT NULL,
    to_wallet_id                text,
    amount                      numeric(39, 0) NOT NULL CHECK (amount > 0),
    captured_amount             numeric(39, 0) NOT NULL DEFAULT 0
                                CHECK (captured_amount >= 0 AND captured_amount <= amount),
    status                      text NOT NULL
                                CHECK (status IN ('Pending', 'Captured', 'Voided', 'Expired')),
    transaction_id              text NOT NULL,
    resolved_by_transaction_id  text,
    expires_at                  timestamptz,
    created_at                  timestamptz NOT NULL,
    resolved_at                 timestamptz,
    CHECK ((status = 'Pending') = (resolved_at IS NULL)),
    CHECK ((status = 'Pending') = (resolved_by_transaction_id IS NULL)),
    CHECK ((status = 'Captured') = (captured_amount > 0))
);
-- The holds list: a project's holds newest first, by wallet and by status.
CREATE INDEX holds_project ON holds (project_id, created_at, id);
CREATE INDEX holds_wallet ON holds (wallet_id, created_at, id);
-- The expiry scanner: the Pending holds of a partition that expire, soonest first.
CREATE INDEX holds_expiring ON holds (partition, expires_at)
    WHERE status = 'Pending' AND expires_at IS NOT NULL;
