-- A run's span count, kept by the publisher beside its token and cost totals: checking the cap and
-- updating the totals then cost one row per batch instead of a pass over every span of the run
-- (which, under row-level security, evaluated the policy on each of them).
ALTER TABLE agent_runs ADD COLUMN span_count integer NOT NULL DEFAULT 0 CHECK (span_count >= 0);
UPDATE agent_runs r SET span_count = s.n
FROM (SELECT run_id, count(*) AS n FROM agent_run_spans GROUP BY run_id) s
WHERE r.id = s.run_id;
