-- Deleting a user failed: the cascade removed the user's rollup rows and runs, and each run's
-- AFTER DELETE trigger then upserted its bucket again, for a user no longer there (a key
-- violation, so the whole DELETE rolled back). A run's bucket exists for as long as the run does,
-- except in that cascade; a deleted run now only takes itself out of a bucket that is still there.

CREATE OR REPLACE FUNCTION agent_runs_rollup() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.user_id = NEW.user_id AND OLD.agent_name = NEW.agent_name
       AND date_trunc('hour', OLD.created_at, 'UTC') = date_trunc('hour', NEW.created_at, 'UTC') THEN
        PERFORM run_rollup_shift(OLD, NEW);
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM run_rollup_hourly
                   WHERE user_id = OLD.user_id AND agent_name = OLD.agent_name
                     AND hour = date_trunc('hour', OLD.created_at, 'UTC')) THEN
            PERFORM run_rollup_add(OLD, -1);
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        PERFORM run_rollup_add(OLD, -1);
    END IF;
    PERFORM run_rollup_add(NEW, 1);
    RETURN NULL;
END
$$;
