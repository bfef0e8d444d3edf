-- The initial schema. The schema itself carries the ledger's invariants: balances never below
-- zero, one transaction per (project, referenceId), amounts wide enough for 2^127-1.

CREATE TABLE deployment (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    secret_digest bytea NOT NULL CHECK (length(secret_digest) = 32),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_tenant ON projects (tenant_id, id);

CREATE TABLE assets (
    id         text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    code       text NOT NULL CHECK (length(code) BETWEEN 1 AND 16),
    fractions  bigint NOT NULL CHECK (fractions >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, code),
    UNIQUE (project_id, id)
);

CREATE TABLE customers (
    project_id  text NOT NULL REFERENCES projects (id),
    id          text NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    status      text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Suspended')),
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

CREATE TABLE wallets (
    id          text PRIMARY KEY,
    project_id  text NOT NULL,
    asset_id    text NOT NULL,
    customer_id text,
    type        text NOT NULL CHECK (type IN ('customer', 'system')),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    status      text NOT NULL DEFAULT 'Open' CHECK (status IN ('Open', 'Suspended', 'Closed')),
    balance     numeric(39, 0) NOT NULL DEFAULT 0
                CHECK (balance >= 0 AND balance <= 170141183460469231731687303715884105727),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, asset_id) REFERENCES assets (project_id, id),
    FOREIGN KEY (project_id, customer_id) REFERENCES customers (project_id, id),
    CHECK ((type = 'customer') = (customer_id IS NOT NULL)),
    CHECK (status <> 'Closed' OR balance = 0)
);
CREATE INDEX wallets_project ON wallets (project_id, id);
CREATE INDEX wallets_customer ON wallets (project_id, customer_id, id) WHERE customer_id IS NOT NULL;
CREATE INDEX wallets_asset ON wallets (asset_id);

-- One row per applied transaction, Completed or Failed; the UNIQUE constraint decides
-- "already applied" inside the same database transaction as the postings.
CREATE TABLE transactions (
    id             text PRIMARY KEY,
    project_id     text NOT NULL REFERENCES projects (id),
    reference_id   text NOT NULL CHECK (length(reference_id) BETWEEN 1 AND 1024),
    request_digest bytea NOT NULL,
    status         text NOT NULL CHECK (status IN ('Completed', 'Failed')),
    operations     jsonb NOT NULL,
    failure        jsonb,
    created_at     timestamptz NOT NULL,
    completed_at   timestamptz NOT NULL,
    UNIQUE (project_id, reference_id),
    CHECK ((status = 'Failed') = (failure IS NOT NULL))
);
CREATE INDEX transactions_project_created ON transactions (project_id, created_at, id);

-- A transaction id the gateway handed out for a referenceId that, unknown to the gateway's
-- fast path, was already taken: it resolves to the transaction that holds the referenceId.
CREATE TABLE transaction_aliases (
    id             text PRIMARY KEY,
    project_id     text NOT NULL REFERENCES projects (id),
    transaction_id text NOT NULL REFERENCES transactions (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Posted history is append-only: entries are inserted, never updated.
CREATE TABLE entries (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    wallet_id              text NOT NULL REFERENCES wallets (id),
    transaction_id         text NOT NULL REFERENCES transactions (id),
    operation_index        integer NOT NULL CHECK (operation_index >= 0),
    type                   text NOT NULL CHECK (type IN ('Issue', 'Redeem', 'Debit', 'Credit')),
    amount                 numeric(39, 0) NOT NULL CHECK (amount > 0),
    balance_after          numeric(39, 0) NOT NULL CHECK (balance_after >= 0),
    counterparty_wallet_id text,
    created_at             timestamptz NOT NULL
);
CREATE INDEX entries_wallet ON entries (wallet_id, id);
CREATE INDEX entries_transaction ON entries (transaction_id);
