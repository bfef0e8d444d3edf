-- The events outbox: one row per committed batch of a partition, written in the batch's own
-- database transaction, naming the transactions whose final states are still to be published to
-- the events exchange. A writer deletes a row (in its next batch, or when idle) once the broker has
-- confirmed those events; a row left behind by a writer that died, or whose publish failed, is
-- relayed by the partition's writer (worker/consumer.py), so that no final state goes unannounced.
CREATE TABLE event_outbox (
    partition       integer NOT NULL CHECK (partition >= 0),
    batch_id        text NOT NULL,
    transaction_ids text[] NOT NULL CHECK (cardinality(transaction_ids) > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partition, batch_id)
);
