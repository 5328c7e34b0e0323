-- The event log's NOTIFY carries the statement's events themselves when they are few and small, so
-- the hub can hand out the next events in line without reading them back from the table.
--
-- Why: with one subscriber, reading back what a NOTIFY announced (the events, then their runs) was
-- two more round trips between a commit and the browser, about a third of the publish-to-browser
-- time `benches/live.rs` measures.
--
-- What stays as it was: the payload still names the newest id and, when the statement wrote one
-- user's events, their owner. Nothing relies on the events being there: a statement with more than
-- 64 events or more than 4,000 bytes of payloads and steps, or whose note would not fit in
-- PostgreSQL's 8,000-byte limit, sends the small note alone, and the hub reads the rows, as it does
-- whenever the events in a note are not the next ones after its cursor (src/server/bus.rs).
--
-- Who sees them: a NOTIFY reaches every session that LISTENs on the channel, whatever its row-level
-- security, as the ids and owners always did. The only role that logs in besides the schema's owner
-- is the application's, whose hub reads every user's events anyway.
CREATE OR REPLACE FUNCTION agent_run_events_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
    owners uuid[];
    owner uuid;
    rows bigint;
    bytes bigint;
    note text;
BEGIN
    SELECT max(id), array_agg(DISTINCT user_id), count(*),
           sum(octet_length(payload::text) + coalesce(octet_length(step), 0))
        INTO newest, owners, rows, bytes
        FROM inserted;
    IF newest IS NULL THEN
        RETURN NULL;
    END IF;
    owner := CASE WHEN cardinality(owners) = 1 THEN owners[1] END;
    IF rows <= 64 AND bytes <= 4000 THEN
        -- The columns of `events::EVENT_COLUMNS`, named as `RunEvent` reads them.
        SELECT json_build_object(
                   'id', newest, 'user_id', owner,
                   'events', json_agg(json_build_object(
                       'id', id, 'run_id', run_id, 'user_id', user_id, 'kind', kind,
                       'status', status, 'progress', progress, 'step', step, 'payload', payload,
                       'created_at', created_at) ORDER BY id))::text
            INTO note
            FROM inserted;
        IF octet_length(note) < 8000 THEN
            PERFORM pg_notify('agent_run_events', note);
            RETURN NULL;
        END IF;
    END IF;
    PERFORM pg_notify('agent_run_events', json_build_object('id', newest, 'user_id', owner)::text);
    RETURN NULL;
END
$$;
