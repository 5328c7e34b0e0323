-- Progress on a running run is a HOT update: it writes no index.
--
-- Why: `search_text` held the current step, and the trigram index reads `search_text`. So every
-- progress update changed an indexed column: Postgres wrote a new entry into each of the table's
-- twelve indexes, and a run's index entries piled up with its versions until a vacuum. A run updated
-- thousands of times (an agent reporting every step, spans adding up tokens) got slower to update:
-- `benches/live.rs`'s one-subscriber row, 6,000 publishes on one run, measured 1.38-1.50 ms with the
-- step in the index and 0.84-1.13 ms without it.
--
-- Now the column holds the step only once the run has finished, when its step can no longer change.
-- While a run is active, `search_run_ids` matches its step by reading the run itself, among the
-- owner's active runs (`agent_runs_user_active_idx`: `run_status_is_terminal` is inlined, so the
-- planner sees that index's own predicate); those are few, and each is read by key. A
-- search finds exactly the runs it found before: "agent task step" contains the text, or the id
-- starts with it (`matches_search` in src/model/live.rs is the same rule in Rust).
--
-- Dropping the column drops its index; adding the new one rewrites the table once.
ALTER TABLE agent_runs DROP COLUMN search_text;
ALTER TABLE agent_runs ADD COLUMN search_text text GENERATED ALWAYS AS (
    lower(agent_name || ' ' || task || ' ' ||
          CASE WHEN run_status_is_terminal(status) THEN coalesce(current_step, '') ELSE '' END)
) STORED;
CREATE INDEX agent_runs_search_trgm_idx ON agent_runs USING gin (search_text gin_trgm_ops);

-- The whole text a search matches, as `search_text` held it before: for the runs whose `search_text`
-- leaves the step out, and for a search over rows already read (src/server/runs/filter.rs).
CREATE FUNCTION run_search_text(agent_name text, task text, current_step text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lower(agent_name || ' ' || task || ' ' || coalesce(current_step, ''))
$$;
GRANT EXECUTE ON FUNCTION run_search_text(text, text, text) TO runwire_app;

CREATE OR REPLACE FUNCTION search_run_ids(p_user_id uuid, p_pattern text, p_id_prefix text)
    RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT (coalesce(p_user_id = app_user_id(), false) OR app_is_admin()) THEN
        RETURN;
    END IF;
    IF p_user_id IS NULL THEN
        RETURN QUERY EXECUTE
            'SELECT id FROM agent_runs WHERE search_text LIKE $1 OR id::text LIKE $2
             UNION
             SELECT id FROM agent_runs
             WHERE NOT run_status_is_terminal(status)
               AND run_search_text(agent_name, task, current_step) LIKE $1'
            USING p_pattern, p_id_prefix;
    ELSE
        RETURN QUERY EXECUTE
            'SELECT id FROM agent_runs WHERE user_id = $1 AND (search_text LIKE $2 OR id::text LIKE $3)
             UNION
             SELECT id FROM agent_runs
             WHERE user_id = $1
               AND NOT run_status_is_terminal(status)
               AND run_search_text(agent_name, task, current_step) LIKE $2'
            USING p_user_id, p_pattern, p_id_prefix;
    END IF;
END
$$;
