-- Brute-force guard for sign-in: failures counted per key ("email:<address>" and "ip:<address>") in a
-- fixed window. Small and self-cleaning: a key whose window has passed starts over.
CREATE TABLE sign_in_failures (
    key               text PRIMARY KEY,
    failures          integer NOT NULL CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_window_idx ON sign_in_failures (window_started_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON sign_in_failures TO runwire_app;
