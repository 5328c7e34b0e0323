-- ANALYZE leaves out the log's opaque columns: an event's payload, a span's attributes, input and
-- output previews and error. No query filters, joins or groups on them, so their statistics were
-- never used, and gathering them was half the cost of every ANALYZE: sorting 30,000 sampled
-- jsonb values (compareJsonbContainers). Autovacuum re-analyses a young partition each time it
-- grows by a tenth; in a 3 s profile of the span benchmark's ingest, one such ANALYZE of the events
-- took 14% of both cores. Alone, on a partition of 334,000 span events, ANALYZE took 386-435 ms
-- with these columns and 198 ms without; of the spans, 306 and 212 ms.

-- Sets the opaque columns of `p_table` and of every partition of it that still gathers
-- statistics on them, and returns how many it set. A column's statistics target is not passed on
-- to a partition made later (CREATE TABLE ... PARTITION OF, or LIKE and ATTACH), so whatever makes
-- partitions calls this after (server::partitions::create).
CREATE FUNCTION runwire_skip_opaque_statistics(p_table text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tbl text := runwire_log_table(p_table);
    opaque text[] := CASE tbl WHEN 'agent_run_events' THEN ARRAY['payload']
                     ELSE ARRAY['attributes', 'input_preview', 'output_preview', 'error'] END;
    target record;
    done integer := 0;
BEGIN
    FOR target IN
        SELECT c.relname, a.attname
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE (c.oid = tbl::regclass
               OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = tbl::regclass))
          AND a.attname = ANY (opaque) AND a.attstattarget <> 0
    LOOP
        EXECUTE format('ALTER TABLE ONLY %I ALTER COLUMN %I SET STATISTICS 0',
                       target.relname, target.attname);
        done := done + 1;
    END LOOP;
    RETURN done;
END
$$;

REVOKE ALL ON FUNCTION runwire_skip_opaque_statistics(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runwire_skip_opaque_statistics(text) TO runwire_app;

-- The tables (for ANALYZE of the whole log) and their partitions of today.
SELECT runwire_skip_opaque_statistics('agent_run_events'), runwire_skip_opaque_statistics('agent_run_spans');
