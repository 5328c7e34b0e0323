-- Scheduled jobs: what ran, when and where; health samples; per-user daily reports.

-- One row per firing of a job. (job, scheduled_for) is unique, so when several replicas wake for the
-- same firing only the first records it and runs it; the others see the row and skip.
CREATE TABLE job_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job           text NOT NULL,
    scheduled_for timestamptz NOT NULL,
    -- 'schedule' or 'http' (an external cron calling POST /api/cron/{job})
    trigger       text NOT NULL CHECK (trigger IN ('schedule', 'http')),
    instance      text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    outcome       text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'succeeded', 'failed')),
    details       jsonb NOT NULL DEFAULT '{}',
    UNIQUE (job, scheduled_for)
);
CREATE INDEX job_runs_started_idx ON job_runs (started_at DESC);

CREATE TABLE health_samples (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    healthy         boolean NOT NULL,
    db_latency_ms   double precision NOT NULL,
    -- publish a probe event, time its arrival through LISTEN and the hub; NULL: it never arrived
    bus_lag_ms      double precision,
    jobs_waiting    bigint NOT NULL,
    jobs_running    bigint NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX health_samples_taken_idx ON health_samples (taken_at DESC);

-- Yesterday's activity of one user, written by the daily-report job.
CREATE TABLE daily_reports (
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day                  date NOT NULL,
    total                bigint NOT NULL,
    completed            bigint NOT NULL,
    failed               bigint NOT NULL,
    cancelled            bigint NOT NULL,
    timed_out            bigint NOT NULL,
    avg_duration_seconds double precision,
    -- [{"agent": name, "failed": n, "finished": n}], most failures first
    top_failing          jsonb NOT NULL DEFAULT '[]',
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, day)
);

-- Job history and health are the operators' (admins'); reports are their user's.
ALTER TABLE job_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_runs_admin ON job_runs USING (app_is_admin()) WITH CHECK (app_is_admin());
ALTER TABLE health_samples ENABLE ROW LEVEL SECURITY;
CREATE POLICY health_samples_admin ON health_samples USING (app_is_admin()) WITH CHECK (app_is_admin());
ALTER TABLE daily_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY daily_reports_owner ON daily_reports
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());

GRANT SELECT, INSERT, UPDATE, DELETE ON job_runs, health_samples, daily_reports TO runwire_app;
-- /ready compares the applied migrations with the ones this binary carries.
GRANT SELECT ON _sqlx_migrations TO runwire_app;
-- Finished runs age out through the cleanup job.
CREATE INDEX agent_runs_completed_idx ON agent_runs (completed_at) WHERE completed_at IS NOT NULL;

-- Alerts already sent, by key ("run-failed:<run>", "failure-rate:<user>:<agent>:<hour>"): every replica
-- sees every failure, and only the one that inserts the key sends the alert.
CREATE TABLE alerts_sent (
    key     text PRIMARY KEY,
    sent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_sent_at_idx ON alerts_sent (sent_at);
ALTER TABLE alerts_sent ENABLE ROW LEVEL SECURITY;
CREATE POLICY alerts_sent_admin ON alerts_sent USING (app_is_admin()) WITH CHECK (app_is_admin());
GRANT SELECT, INSERT, DELETE ON alerts_sent TO runwire_app;
