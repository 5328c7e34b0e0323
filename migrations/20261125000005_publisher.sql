-- Publisher support.

-- The writing transaction of each event. Identity ids are handed out at INSERT but become visible at
-- COMMIT, so a later id can be seen before an earlier one. Readers that resume "after id N" only
-- consume events whose transaction is older than every transaction still running
-- (tx_id < pg_snapshot_xmin(pg_current_snapshot())), which makes id order safe to resume from.
ALTER TABLE agent_run_events ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Safe retries: the first answer to a write with an Idempotency-Key is kept and replayed.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 200),
    -- sha256 of method, path and body: the same key with another request is a client bug
    request_hash bytea NOT NULL,
    status_code  integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO runwire_app;
