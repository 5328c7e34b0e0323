-- The built-in agents' work queue. A run started from the /agents page gets one row here; workers in
-- any server process claim rows with FOR UPDATE SKIP LOCKED and hold a lease they renew while the
-- agent works. A lease that runs out means the worker died: the run is timed out, never left running.

CREATE TABLE agent_jobs (
    run_id      uuid PRIMARY KEY REFERENCES agent_runs (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_name  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- which process and worker holds it, e.g. "host:pid/2"
    claimed_by  text,
    claimed_at  timestamptz,
    lease_until timestamptz,
    finished_at timestamptz,
    outcome     text,
    CONSTRAINT agent_jobs_lease_with_claim CHECK ((claimed_at IS NULL) = (lease_until IS NULL))
);
-- Workers only ever look at unfinished jobs: oldest first for claims, by lease for the reaper.
CREATE INDEX agent_jobs_waiting_idx ON agent_jobs (created_at) WHERE finished_at IS NULL AND claimed_at IS NULL;
CREATE INDEX agent_jobs_leased_idx ON agent_jobs (lease_until) WHERE finished_at IS NULL AND claimed_at IS NOT NULL;

ALTER TABLE agent_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_jobs_owner ON agent_jobs
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());
GRANT SELECT, INSERT, UPDATE, DELETE ON agent_jobs TO runwire_app;
