-- An event's payload is kept as the JSON text the server wrote (json), no longer parsed into jsonb.
--
-- Why: the log never looks inside a payload (no query filters, indexes, groups or compares on it;
-- its statistics are off, see 20261127000024_log_statistics.sql) and hands it out as the text it
-- was given. Parsing each one into jsonb's binary form (and sorting its keys) on the way in, and
-- printing it back to text on the way out, bought nothing: jsonb_recv was 9.9% of all CPU under
-- the span benchmark's REST ingest, where every span's event carries the span. json only checks
-- that the text is JSON.
ALTER TABLE agent_run_events
    ALTER COLUMN payload DROP DEFAULT,
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN payload SET DEFAULT '{}';

-- A new column type comes with the default statistics target again.
SELECT runwire_skip_opaque_statistics('agent_run_events');
