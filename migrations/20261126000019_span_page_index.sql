-- A run's spans page by start time from an index: without it each page of 1,000 read every span of
-- the run and sorted them (a top-N sort of 5,000 rows per page for a 5,000-span run).
CREATE INDEX agent_run_spans_run_start_idx ON agent_run_spans (run_id, started_at, span_id);
