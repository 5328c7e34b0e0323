-- An event and a span belong to a run and to that run's owner: one composite key,
-- (run_id, user_id) -> agent_runs (id, user_id), says both, and says that they agree. It replaces
-- the two separate keys on run_id and user_id, which checked less (an event could name one user's
-- run and another user) at twice the cost: a batch of 100 spans ran 400 per-row key checks, and
-- every check of user_id took a KEY SHARE lock on the same users row, which concurrent writers of
-- one user turned into multixacts. Deleting a user still removes everything: users -> agent_runs
-- -> events and spans cascade as before.

ALTER TABLE agent_runs ADD CONSTRAINT agent_runs_id_user_key UNIQUE (id, user_id);

ALTER TABLE agent_run_events
    DROP CONSTRAINT agent_run_events_run_id_fkey,
    DROP CONSTRAINT agent_run_events_user_id_fkey,
    ADD CONSTRAINT agent_run_events_run_owner_fkey FOREIGN KEY (run_id, user_id)
        REFERENCES agent_runs (id, user_id) ON DELETE CASCADE;

ALTER TABLE agent_run_spans
    DROP CONSTRAINT agent_run_spans_run_id_fkey,
    DROP CONSTRAINT agent_run_spans_user_id_fkey,
    ADD CONSTRAINT agent_run_spans_run_owner_fkey FOREIGN KEY (run_id, user_id)
        REFERENCES agent_runs (id, user_id) ON DELETE CASCADE;
