-- One NOTIFY per INSERT statement on the event log, not one per row: a batch of a thousand updates
-- used to queue a thousand notifications, which the hub coalesced anyway (it reads the rows
-- themselves from the table). The payload names the newest id the statement wrote, and its owner
-- when the statement wrote one user's events (null otherwise).
DROP TRIGGER agent_run_events_notify ON agent_run_events;

CREATE OR REPLACE FUNCTION agent_run_events_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
    owners uuid[];
BEGIN
    SELECT max(id), array_agg(DISTINCT user_id) INTO newest, owners FROM inserted;
    IF newest IS NOT NULL THEN
        PERFORM pg_notify('agent_run_events',
                          json_build_object('id', newest,
                                            'user_id', CASE WHEN cardinality(owners) = 1
                                                            THEN owners[1] END)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER agent_run_events_notify AFTER INSERT ON agent_run_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION agent_run_events_notify();
