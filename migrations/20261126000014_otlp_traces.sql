-- OpenTelemetry in: a trace sent to /v1/traces becomes a run of its sender. This maps each of a
-- user's trace ids to that run, so the spans of one trace, which exporters send in several batches
-- (children before their parent), all land in the same run; one per user, since trace ids are chosen
-- by clients and two users may send the same one.
CREATE TABLE agent_run_traces (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 32 lowercase hex digits, as OTLP/JSON spells a 16-byte trace id
    trace_id   text NOT NULL CONSTRAINT agent_run_traces_id_hex CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    run_id     uuid NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, trace_id)
);
CREATE INDEX agent_run_traces_run_idx ON agent_run_traces (run_id);

ALTER TABLE agent_run_traces ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_run_traces FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_run_traces_owner ON agent_run_traces
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());
GRANT SELECT, INSERT ON agent_run_traces TO runwire_app;
