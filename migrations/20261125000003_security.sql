-- Row-level security: the server runs every query as the non-owner role `runwire_app`, inside a
-- transaction that first sets `app.user_id` (and `app.role`) with set_config(..., true). Policies read
-- those settings, so a query that forgot its WHERE clause still sees only its user's rows.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'runwire_app') THEN
        CREATE ROLE runwire_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END
$$;
-- The migrating (owner) login switches to the application role with SET ROLE on every pooled connection.
GRANT runwire_app TO CURRENT_USER;

CREATE FUNCTION app_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN nullif(current_setting('app.user_id', true), '')::uuid;

CREATE FUNCTION app_is_admin() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(current_setting('app.role', true), '') = 'admin';

ALTER TABLE agent_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_runs_owner ON agent_runs
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());

ALTER TABLE agent_run_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_run_events_owner ON agent_run_events
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());

GRANT USAGE ON SCHEMA public TO runwire_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, api_tokens TO runwire_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON agent_runs TO runwire_app;
-- Events are append-only for the application: no UPDATE, no DELETE (cleanup deletes runs, which cascades).
GRANT SELECT, INSERT ON agent_run_events TO runwire_app;

-- Active runs of one user, newest first (served by agent_runs_user_active_idx).
CREATE FUNCTION active_runs_for_user(p_user_id uuid) RETURNS SETOF agent_runs
    LANGUAGE sql STABLE AS $$
    SELECT * FROM agent_runs
    WHERE user_id = p_user_id
      AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')
    ORDER BY created_at DESC
$$;

-- Totals of one user's runs created since p_since (NULL = all time). Durations are of finished runs.
CREATE FUNCTION run_stats_for_user(p_user_id uuid, p_since timestamptz)
    RETURNS TABLE (total bigint, active bigint, completed bigint, failed bigint, cancelled bigint,
                   timed_out bigint, avg_duration_seconds double precision)
    LANGUAGE sql STABLE AS $$
    SELECT count(*),
           count(*) FILTER (WHERE status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')),
           count(*) FILTER (WHERE status = 'completed'),
           count(*) FILTER (WHERE status = 'failed'),
           count(*) FILTER (WHERE status = 'cancelled'),
           count(*) FILTER (WHERE status = 'timed_out'),
           (avg(extract(epoch FROM completed_at - coalesce(started_at, created_at)))
                FILTER (WHERE completed_at IS NOT NULL))::double precision
    FROM agent_runs
    WHERE user_id = p_user_id
      AND (p_since IS NULL OR created_at >= p_since)
$$;

GRANT EXECUTE ON FUNCTION app_user_id(), app_is_admin(), active_runs_for_user(uuid),
    run_stats_for_user(uuid, timestamptz), run_status_is_terminal(run_status),
    run_status_transition_allowed(run_status, run_status) TO runwire_app;
