-- Worker processes announce themselves here; PostgreSQL's clock decides who is live.
CREATE TABLE workers (
    id           text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
