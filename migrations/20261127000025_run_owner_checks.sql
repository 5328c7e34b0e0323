-- An event and a span still belong to their run and to its owner (and a span to the run's creation
-- time, its partition key), but the database now checks that once per statement instead of once per
-- row.
--
-- Why: the foreign keys checked each inserted row with a query of its own (an executor started and
-- stopped for each, SPI_execute_snapshot): 100 of them for a batch of 100 spans and 100 more for
-- their events. In a profile of the span benchmark's REST ingest that was 9.4% of all CPU, the
-- largest single cost of writing the log. The statement-level triggers below read the statement's
-- new rows (a transition table, which the events' NOTIFY trigger already has) and look up each run
-- they name once: one query per statement.
--
-- What a foreign key did and what does it now:
-- * Every new row names a run that exists, with that owner (and creation time): the triggers
--   below, raising foreign_key_violation (23503) as the keys did.
-- * The run cannot be deleted from under a transaction that is writing to it: the check takes the
--   same KEY SHARE lock on the run's row that a foreign key takes, held until commit. A delete that
--   waited for it then removes the rows that transaction wrote, by the next point.
-- * Deleting a run deletes its events and spans (ON DELETE CASCADE): an AFTER DELETE statement
--   trigger on agent_runs, which also fires when deleting a user removes their runs.
-- * The keys a row names never change: events are append-only, a span's run, owner and id are
--   guarded (agent_run_spans_guard_update), and now so are a span's run_created_at and a run's
--   created_at (a run's id and owner already were).

ALTER TABLE agent_run_events DROP CONSTRAINT agent_run_events_run_owner_fkey;
ALTER TABLE agent_run_spans DROP CONSTRAINT agent_run_spans_run_owner_fkey;

-- Runs as the schema's owner, so that the check sees every run a row may name: row-level security
-- has already made sure the writer owns the rows it inserts.
CREATE FUNCTION runwire_log_rows_name_their_runs() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    missing record;
BEGIN
    IF TG_TABLE_NAME = 'agent_run_spans' THEN
        SELECT w.run_id, w.user_id INTO missing
        FROM (SELECT DISTINCT run_id, user_id, run_created_at FROM inserted) w
        LEFT JOIN LATERAL (
            SELECT true AS found FROM agent_runs r
            WHERE r.id = w.run_id AND r.user_id = w.user_id AND r.created_at = w.run_created_at
            FOR KEY SHARE
        ) r ON true
        WHERE r.found IS NULL
        LIMIT 1;
    ELSE
        SELECT w.run_id, w.user_id INTO missing
        FROM (SELECT DISTINCT run_id, user_id FROM inserted) w
        LEFT JOIN LATERAL (
            SELECT true AS found FROM agent_runs r
            WHERE r.id = w.run_id AND r.user_id = w.user_id
            FOR KEY SHARE
        ) r ON true
        WHERE r.found IS NULL
        LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'insert into % names run % of user %, which does not exist',
                        TG_TABLE_NAME, missing.run_id, missing.user_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_TABLE_NAME || '_run_owner',
                  TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER agent_run_events_run_owner AFTER INSERT ON agent_run_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION runwire_log_rows_name_their_runs();
CREATE TRIGGER agent_run_spans_run_owner AFTER INSERT ON agent_run_spans
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION runwire_log_rows_name_their_runs();

-- ON DELETE CASCADE, once per statement. As the schema's owner: the application may not delete
-- events at all.
CREATE FUNCTION agent_runs_delete_log() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM agent_run_events WHERE run_id IN (SELECT id FROM deleted);
    DELETE FROM agent_run_spans WHERE run_id IN (SELECT id FROM deleted);
    RETURN NULL;
END
$$;
CREATE TRIGGER agent_runs_delete_log AFTER DELETE ON agent_runs
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION agent_runs_delete_log();

CREATE FUNCTION runwire_reject_key_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of a row of % never changes', TG_ARGV[0], TG_TABLE_NAME
        USING ERRCODE = 'RW409';
END
$$;
CREATE TRIGGER agent_runs_created_at_fixed BEFORE UPDATE OF created_at ON agent_runs
    FOR EACH ROW WHEN (NEW.created_at IS DISTINCT FROM OLD.created_at)
    EXECUTE FUNCTION runwire_reject_key_change('created_at');
CREATE TRIGGER agent_run_spans_run_created_at_fixed BEFORE UPDATE OF run_created_at ON agent_run_spans
    FOR EACH ROW WHEN (NEW.run_created_at IS DISTINCT FROM OLD.run_created_at)
    EXECUTE FUNCTION runwire_reject_key_change('run_created_at');

REVOKE ALL ON FUNCTION runwire_log_rows_name_their_runs(), agent_runs_delete_log(),
    runwire_reject_key_change() FROM PUBLIC;
