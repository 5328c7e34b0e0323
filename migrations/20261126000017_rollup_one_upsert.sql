-- A run that changes within its hourly bucket (a status, its span totals) moves the bucket by the
-- difference in one upsert, instead of taking the old row out and putting the new one in (two
-- upserts of the same row). Span batches update a run's totals on every write, so this runs often;
-- the row is shared by every writer of the user's agent in that hour and is held until commit.

-- The one upsert every change to the rollup goes through: adds these amounts to one bucket.
CREATE FUNCTION run_rollup_bump(p_user_id uuid, p_hour timestamptz, p_agent_name text,
                                p_total bigint, p_completed bigint, p_failed bigint,
                                p_cancelled bigint, p_timed_out bigint, p_finished_ms bigint,
                                p_tokens_in bigint, p_tokens_out bigint,
                                p_cost_usd double precision, p_costed bigint) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_rollup_hourly AS h (user_id, hour, agent_name, total, completed, failed, cancelled,
                                        timed_out, finished_ms, tokens_in, tokens_out, cost_usd, costed)
    VALUES (p_user_id, p_hour, p_agent_name, p_total, p_completed, p_failed, p_cancelled, p_timed_out,
            p_finished_ms, p_tokens_in, p_tokens_out, p_cost_usd, p_costed)
    ON CONFLICT (user_id, hour, agent_name) DO UPDATE SET
        total = h.total + EXCLUDED.total,
        completed = h.completed + EXCLUDED.completed,
        failed = h.failed + EXCLUDED.failed,
        cancelled = h.cancelled + EXCLUDED.cancelled,
        timed_out = h.timed_out + EXCLUDED.timed_out,
        finished_ms = h.finished_ms + EXCLUDED.finished_ms,
        tokens_in = h.tokens_in + EXCLUDED.tokens_in,
        tokens_out = h.tokens_out + EXCLUDED.tokens_out,
        cost_usd = h.cost_usd + EXCLUDED.cost_usd,
        costed = h.costed + EXCLUDED.costed;
END
$$;

-- Adds `sign` (1 or -1) times one run's contribution to its bucket.
CREATE OR REPLACE FUNCTION run_rollup_add(r agent_runs, sign integer) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM run_rollup_bump(r.user_id, date_trunc('hour', r.created_at, 'UTC'), r.agent_name, sign,
                            sign * (r.status = 'completed')::int, sign * (r.status = 'failed')::int,
                            sign * (r.status = 'cancelled')::int, sign * (r.status = 'timed_out')::int,
                            sign * greatest(r.duration_ms, 0), sign * coalesce(r.tokens_in, 0),
                            sign * coalesce(r.tokens_out, 0), sign * coalesce(r.cost_usd, 0),
                            sign * (r.cost_usd IS NOT NULL)::int);
END
$$;

-- Moves a run's bucket from how the run stood (`o`) to how it stands (`n`), both in that bucket.
CREATE FUNCTION run_rollup_shift(o agent_runs, n agent_runs) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM run_rollup_bump(n.user_id, date_trunc('hour', n.created_at, 'UTC'), n.agent_name, 0,
                            (n.status = 'completed')::int - (o.status = 'completed')::int,
                            (n.status = 'failed')::int - (o.status = 'failed')::int,
                            (n.status = 'cancelled')::int - (o.status = 'cancelled')::int,
                            (n.status = 'timed_out')::int - (o.status = 'timed_out')::int,
                            greatest(n.duration_ms, 0) - greatest(o.duration_ms, 0),
                            coalesce(n.tokens_in, 0) - coalesce(o.tokens_in, 0),
                            coalesce(n.tokens_out, 0) - coalesce(o.tokens_out, 0),
                            coalesce(n.cost_usd, 0) - coalesce(o.cost_usd, 0),
                            (n.cost_usd IS NOT NULL)::int - (o.cost_usd IS NOT NULL)::int);
END
$$;

CREATE OR REPLACE FUNCTION agent_runs_rollup() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.user_id = NEW.user_id AND OLD.agent_name = NEW.agent_name
       AND date_trunc('hour', OLD.created_at, 'UTC') = date_trunc('hour', NEW.created_at, 'UTC') THEN
        PERFORM run_rollup_shift(OLD, NEW);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM run_rollup_add(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM run_rollup_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$;
GRANT EXECUTE ON FUNCTION run_rollup_bump(uuid, timestamptz, text, bigint, bigint, bigint, bigint,
                                          bigint, bigint, bigint, bigint, double precision, bigint),
                          run_rollup_shift(agent_runs, agent_runs) TO runwire_app;
