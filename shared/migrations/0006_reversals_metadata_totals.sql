-- Reversals, transaction metadata and asset totals (docs/decisions/0018-reversals-metadata-
-- and-totals.md). Works on a database with data: the new columns are nullable or have
-- constant defaults, and the totals are computed once from the existing entries and wallets.

-- A transaction's metadata as submitted (NULL when none was given, so that an index on it can
-- leave those rows out); a reversal names the transaction it reverses, and a reversed
-- transaction the Completed reversal that reversed it. At most one Completed reversal per
-- transaction: decided by the writer, and held by the unique index whatever happens.
ALTER TABLE transactions ADD COLUMN metadata jsonb;
ALTER TABLE transactions ADD COLUMN reversal_of text;
ALTER TABLE transactions ADD COLUMN reversed_by text;
CREATE UNIQUE INDEX transactions_reversal_of ON transactions (reversal_of)
    WHERE reversal_of IS NOT NULL AND status = 'Completed';

-- Per asset: what was issued and redeemed, what is held, and how many wallets it has (every
-- wallet, system wallets included). The partition's writer adds its batch's issues, redeems,
-- holds and releases in the batch's own statement (the only writer of an asset's project, so
-- no contention); the gateway adds a wallet in the statement that creates it. A row is made by
-- whichever comes first (INSERT ... ON CONFLICT): an asset without a row has all zeros.
-- outstanding = issued - redeemed = the sum of the asset's balances, and held the sum of its
-- held balances: `cloudwallet verify` checks them. The amounts have no CHECK: the writer adds a
-- batch's changes with INSERT ... ON CONFLICT DO UPDATE, whose proposed row (a release alone
-- proposes a negative held change) is checked before the conflict is found.
CREATE TABLE asset_totals (
    asset_id     text PRIMARY KEY,
    project_id   text NOT NULL,
    issued       numeric(39, 0) NOT NULL DEFAULT 0,
    redeemed     numeric(39, 0) NOT NULL DEFAULT 0,
    held         numeric(39, 0) NOT NULL DEFAULT 0,
    wallet_count bigint NOT NULL DEFAULT 0 CHECK (wallet_count >= 0)
);
INSERT INTO asset_totals (asset_id, project_id, issued, redeemed, held, wallet_count)
SELECT a.id, a.project_id,
       coalesce(f.issued, 0), coalesce(f.redeemed, 0), coalesce(w.held, 0),
       coalesce(w.wallets, 0)
FROM assets a
LEFT JOIN (
    SELECT wl.asset_id,
           sum(e.amount) FILTER (WHERE e.type = 'Issue') AS issued,
           sum(e.amount) FILTER (WHERE e.type = 'Redeem') AS redeemed
    FROM entries e JOIN wallets wl ON wl.id = e.wallet_id
    WHERE e.type IN ('Issue', 'Redeem')
    GROUP BY wl.asset_id
) f ON f.asset_id = a.id
LEFT JOIN (
    SELECT asset_id, sum(held) AS held, count(*) AS wallets FROM wallets GROUP BY asset_id
) w ON w.asset_id = a.id;
