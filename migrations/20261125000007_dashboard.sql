-- The dashboard at a million runs per user: a per-hour rollup kept by triggers (stats and the trend
-- chart read a few hundred rows instead of scanning runs), a stored duration to sort by, and an index
-- for run-id prefix search.

-- Wall time of a finished run in ms; -1 while it runs (so "longest first" lists running runs last).
ALTER TABLE agent_runs ADD COLUMN duration_ms bigint GENERATED ALWAYS AS (
    coalesce((extract(epoch FROM completed_at - coalesce(started_at, created_at)) * 1000)::bigint, -1)
) STORED;
CREATE INDEX agent_runs_user_duration_idx ON agent_runs (user_id, duration_ms DESC, id DESC);
-- "Oldest first" reads the created index backwards; run-id prefix search reads this one.
CREATE INDEX agent_runs_user_id_text_idx ON agent_runs (user_id, (id::text) text_pattern_ops);

-- One row per user, hour (of creation) and agent: how many runs were created then, and how those
-- runs stand now. Active runs of the bucket = total - the four finished counts.
CREATE TABLE run_rollup_hourly (
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hour             timestamptz NOT NULL,
    agent_name       text NOT NULL,
    total            bigint NOT NULL DEFAULT 0,
    completed        bigint NOT NULL DEFAULT 0,
    failed           bigint NOT NULL DEFAULT 0,
    cancelled        bigint NOT NULL DEFAULT 0,
    timed_out        bigint NOT NULL DEFAULT 0,
    -- sum of duration_ms over the bucket's finished runs
    finished_ms      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, hour, agent_name)
);

-- Adds `sign` (1 or -1) times one run's contribution to its bucket.
CREATE FUNCTION run_rollup_add(r agent_runs, sign integer) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_rollup_hourly AS h (user_id, hour, agent_name, total, completed, failed, cancelled,
                                        timed_out, finished_ms)
    VALUES (r.user_id, date_trunc('hour', r.created_at, 'UTC'), r.agent_name, sign,
            sign * (r.status = 'completed')::int, sign * (r.status = 'failed')::int,
            sign * (r.status = 'cancelled')::int, sign * (r.status = 'timed_out')::int,
            sign * greatest(r.duration_ms, 0))
    ON CONFLICT (user_id, hour, agent_name) DO UPDATE SET
        total = h.total + EXCLUDED.total,
        completed = h.completed + EXCLUDED.completed,
        failed = h.failed + EXCLUDED.failed,
        cancelled = h.cancelled + EXCLUDED.cancelled,
        timed_out = h.timed_out + EXCLUDED.timed_out,
        finished_ms = h.finished_ms + EXCLUDED.finished_ms;
END
$$;

CREATE FUNCTION agent_runs_rollup() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM run_rollup_add(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM run_rollup_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER agent_runs_rollup_insert_delete AFTER INSERT OR DELETE ON agent_runs
    FOR EACH ROW EXECUTE FUNCTION agent_runs_rollup();
-- Progress updates leave the rollup alone; only a status change (or a move between buckets) counts.
CREATE TRIGGER agent_runs_rollup_update AFTER UPDATE ON agent_runs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.agent_name IS DISTINCT FROM NEW.agent_name)
    EXECUTE FUNCTION agent_runs_rollup();

-- Fill it for runs that already exist.
INSERT INTO run_rollup_hourly (user_id, hour, agent_name, total, completed, failed, cancelled, timed_out,
                               finished_ms)
SELECT user_id, date_trunc('hour', created_at, 'UTC'), agent_name, count(*),
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'timed_out'),
       coalesce(sum(greatest(duration_ms, 0)), 0)
FROM agent_runs
GROUP BY 1, 2, 3;

ALTER TABLE run_rollup_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY run_rollup_hourly_owner ON run_rollup_hourly
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());
GRANT SELECT, INSERT, UPDATE, DELETE ON run_rollup_hourly TO runwire_app;
GRANT EXECUTE ON FUNCTION run_rollup_add(agent_runs, integer) TO runwire_app;

-- Search reads one lower-cased column through one trigram index: one condition the planner can
-- estimate, instead of an OR over three columns.
ALTER TABLE agent_runs ADD COLUMN search_text text GENERATED ALWAYS AS (
    lower(agent_name || ' ' || task || ' ' || coalesce(current_step, ''))
) STORED;
CREATE INDEX agent_runs_search_trgm_idx ON agent_runs USING gin (search_text gin_trgm_ops);
DROP INDEX agent_runs_agent_name_trgm_idx;
DROP INDEX agent_runs_task_trgm_idx;
DROP INDEX agent_runs_current_step_trgm_idx;

-- The runs of a search, through the trigram index. Row-level security would keep the planner from
-- using that index (LIKE is not leakproof, so it must run after the policy check, row by row), so
-- this function reads as the table owner and checks the caller itself: a user searches only their
-- own runs, an admin (p_user_id NULL) everyone's. Dynamic SQL plans each call with its pattern.
CREATE FUNCTION search_run_ids(p_user_id uuid, p_pattern text, p_id_prefix text) RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT (coalesce(p_user_id = app_user_id(), false) OR app_is_admin()) THEN
        RETURN;
    END IF;
    IF p_user_id IS NULL THEN
        RETURN QUERY EXECUTE
            'SELECT id FROM agent_runs WHERE search_text LIKE $1 OR id::text LIKE $2'
            USING p_pattern, p_id_prefix;
    ELSE
        RETURN QUERY EXECUTE
            'SELECT id FROM agent_runs WHERE user_id = $1 AND (search_text LIKE $2 OR id::text LIKE $3)'
            USING p_user_id, p_pattern, p_id_prefix;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION search_run_ids(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search_run_ids(uuid, text, text) TO runwire_app;
