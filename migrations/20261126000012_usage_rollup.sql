-- Tokens and cost on the dashboard at any scale: the hourly rollup also sums the runs' span totals,
-- so the window's usage per agent costs a few hundred rows, like the other totals.
ALTER TABLE run_rollup_hourly
    ADD COLUMN tokens_in  bigint NOT NULL DEFAULT 0,
    ADD COLUMN tokens_out bigint NOT NULL DEFAULT 0,
    ADD COLUMN cost_usd   double precision NOT NULL DEFAULT 0,
    -- runs of the bucket with a known cost: none means the cost is unknown, not $0
    ADD COLUMN costed     bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION run_rollup_add(r agent_runs, sign integer) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_rollup_hourly AS h (user_id, hour, agent_name, total, completed, failed, cancelled,
                                        timed_out, finished_ms, tokens_in, tokens_out, cost_usd, costed)
    VALUES (r.user_id, date_trunc('hour', r.created_at, 'UTC'), r.agent_name, sign,
            sign * (r.status = 'completed')::int, sign * (r.status = 'failed')::int,
            sign * (r.status = 'cancelled')::int, sign * (r.status = 'timed_out')::int,
            sign * greatest(r.duration_ms, 0), sign * coalesce(r.tokens_in, 0),
            sign * coalesce(r.tokens_out, 0), sign * coalesce(r.cost_usd, 0),
            sign * (r.cost_usd IS NOT NULL)::int)
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

DROP TRIGGER agent_runs_rollup_update ON agent_runs;
CREATE TRIGGER agent_runs_rollup_update AFTER UPDATE ON agent_runs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.agent_name IS DISTINCT FROM NEW.agent_name
          OR OLD.tokens_in IS DISTINCT FROM NEW.tokens_in
          OR OLD.tokens_out IS DISTINCT FROM NEW.tokens_out
          OR OLD.cost_usd IS DISTINCT FROM NEW.cost_usd)
    EXECUTE FUNCTION agent_runs_rollup();

UPDATE run_rollup_hourly h
SET tokens_in = s.tokens_in, tokens_out = s.tokens_out, cost_usd = s.cost_usd, costed = s.costed
FROM (SELECT user_id, date_trunc('hour', created_at, 'UTC') AS hour, agent_name,
             coalesce(sum(tokens_in), 0) AS tokens_in, coalesce(sum(tokens_out), 0) AS tokens_out,
             coalesce(sum(cost_usd), 0) AS cost_usd, count(cost_usd) AS costed
      FROM agent_runs GROUP BY 1, 2, 3) s
WHERE h.user_id = s.user_id AND h.hour = s.hour AND h.agent_name = s.agent_name;
