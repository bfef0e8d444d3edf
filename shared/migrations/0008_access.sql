-- Access (issue 25, docs/decisions/0021-access.md): keys gain a name, a scope, an optional
-- project and customer (customer keys), an expiry, a flag for OAuth2 clients (whose secret
-- only buys tokens), per-key rate limits, and a revocation time. A revoked key keeps its row,
-- so that its id is never reused and an operator can see when it was revoked.
ALTER TABLE api_keys
    ADD COLUMN name text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read', 'customer')),
    ADD COLUMN project_id text,
    ADD COLUMN customer_id text,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN oauth_client boolean NOT NULL DEFAULT false,
    ADD COLUMN rate_limit_per_s integer CHECK (rate_limit_per_s > 0),
    ADD COLUMN rate_limit_burst integer CHECK (rate_limit_burst > 0),
    ADD COLUMN revoked_at timestamptz,
    ADD CONSTRAINT api_keys_customer_scope
        CHECK ((scope = 'customer') = (project_id IS NOT NULL AND customer_id IS NOT NULL));
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id) WHERE revoked_at IS NULL;

-- The keys OAuth2 access tokens are signed with (HS256), named by the `kid` of each token's
-- header. The newest signs; every one still here verifies, so a key is rotated by adding a new
-- one and deleting the old once the tokens it signed have expired.
CREATE TABLE oauth_signing_keys (
    kid        text PRIMARY KEY,
    secret     bytea NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The first signing key: 32 bytes from two version 4 UUIDs (gen_random_uuid draws from the
-- server's strong random source; 244 random bits). `cloudwallet keys rotate-signing-key` adds
-- the next ones.
INSERT INTO oauth_signing_keys (kid, secret)
VALUES (
    'sk-' || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS'),
    decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')
);
