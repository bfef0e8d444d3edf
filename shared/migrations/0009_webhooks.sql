-- Webhooks (design section 12, docs/decisions/0022-webhooks.md). New tables only: existing
-- data is untouched.
--
-- A project's endpoints. The secret signs every delivery, so it is stored as given (shown to
-- the client once, at creation; docs/security.md); a deleted endpoint keeps its row without
-- its secret, so that its id is never reused and its deliveries log still names it.
CREATE TABLE webhook_endpoints (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events      text[] NOT NULL CHECK (cardinality(events) > 0),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    secret      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CHECK ((secret IS NULL) = (deleted_at IS NOT NULL))
);
-- The project's live endpoints: listed, counted against the limit, and looked for by the
-- writer's batch statement (worker/store.py SAVE_BATCH).
CREATE INDEX webhook_endpoints_project ON webhook_endpoints (project_id, id)
    WHERE deleted_at IS NULL;

-- The webhooks' outbox: one row per committed batch of a partition whose projects have a live
-- endpoint, written by the batch's own statement (so a committed event is never lost), naming
-- the transactions it newly applied. The sender turns each row into deliveries and deletes it
-- in one database transaction.
CREATE TABLE webhook_outbox (
    partition       integer NOT NULL CHECK (partition >= 0),
    batch_id        text NOT NULL,
    transaction_ids text[] NOT NULL CHECK (cardinality(transaction_ids) > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partition, batch_id)
);
CREATE INDEX webhook_outbox_age ON webhook_outbox (created_at);

-- Deliveries still to make: one per (endpoint, event), with its body as first written (every
-- attempt sends the same bytes), the attempts made so far, and when the next one is due. A
-- sender claims a delivery by moving next_attempt_at past its attempt's timeout, so that a
-- sender that dies mid-delivery leaves it due again. Deleted once delivered or given up.
CREATE TABLE webhook_deliveries (
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    body            text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at);

-- The deliveries log: every attempt, newest kept (webhook_attempts_kept_per_endpoint per
-- endpoint; the sender trims the rest).
CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    status_code integer,
    error       text,
    at          timestamptz NOT NULL DEFAULT now(),
    CHECK (status_code IS NOT NULL OR error IS NOT NULL)
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
