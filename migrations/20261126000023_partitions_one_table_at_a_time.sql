-- Partitions are made and dropped one table at a time, each in a transaction of its own, and a
-- table is locked once, before anything in it changes.
--
-- Migration 022's runwire_create_log_partitions deadlocked beside a reader of the log. Making a
-- month that had rows waiting in the DEFAULT partition attached it (SHARE UPDATE EXCLUSIVE on the
-- parent, ACCESS EXCLUSIVE on the DEFAULT partition); making the next month then wanted ACCESS
-- EXCLUSIVE on the parent. A reader whose transaction held the parent (a statement pruned to this
-- month's partition) and then read the whole log waited for the DEFAULT partition, while the
-- maker waited for the parent: PostgreSQL cancelled one of them. Locking the table first, in
-- ACCESS EXCLUSIVE mode, leaves no lock to upgrade; doing the two tables in separate transactions
-- leaves no order between them to get wrong. The lock is waited for at most 2 s, as the drop's
-- is: a writer queued behind a waiting ACCESS EXCLUSIVE request waits too, so a long reader must
-- not hold every publish up. A table that is busy keeps its rows in the DEFAULT partition until
-- the next run.

DROP FUNCTION runwire_create_log_partitions(timestamptz, timestamptz, text);
DROP FUNCTION runwire_drop_expired_log_partitions(timestamptz);

-- The table's name, checked: only the log's two partitioned tables are ever touched.
CREATE FUNCTION runwire_log_table(p_table text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_table NOT IN ('agent_run_events', 'agent_run_spans') THEN
        RAISE EXCEPTION 'not a partitioned table of the log: %', p_table USING ERRCODE = '22023';
    END IF;
    RETURN p_table;
END
$$;

-- Creates the partitions of `p_table` for every `p_unit` (day, week or month, in UTC) that
-- [p_from, p_until) touches and no partition covers yet; a range that overlaps an existing
-- partition of another unit is left to the DEFAULT partition. Rows already in the DEFAULT partition
-- for a new range are moved into it. Returns how many partitions it made; raises
-- lock_not_available when the table could not be had within 2 s.
CREATE FUNCTION runwire_create_partitions_of(p_table text, p_from timestamptz, p_until timestamptz,
                                             p_unit text)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC'
    SET lock_timeout = '2s' AS $$
DECLARE
    tbl text := runwire_log_table(p_table);
    key text := CASE p_table WHEN 'agent_run_events' THEN 'created_at' ELSE 'run_created_at' END;
    range_lo timestamptz;
    range_hi timestamptz;
    part text;
    covered boolean;
    occupied boolean;
    locked boolean := false;
    made integer := 0;
BEGIN
    IF p_unit NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'partition unit must be day, week or month, not %', p_unit
            USING ERRCODE = '22023';
    END IF;
    IF p_until - p_from > interval '1000 days' THEN
        RAISE EXCEPTION 'at most 1000 days of partitions at once' USING ERRCODE = '22023';
    END IF;
    range_lo := date_trunc(p_unit, p_from);
    WHILE range_lo < p_until LOOP
        range_hi := range_lo + ('1 ' || p_unit)::interval;
        covered := EXISTS (SELECT 1 FROM runwire_log_partitions() p
                           WHERE p.parent = tbl AND p.lo < range_hi AND p.hi > range_lo);
        -- Looked at before the lock, so that a run with nothing to make takes none, and again
        -- under it, since another process may have made the range in between.
        IF NOT covered AND NOT locked THEN
            EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', tbl);
            locked := true;
            covered := EXISTS (SELECT 1 FROM runwire_log_partitions() p
                               WHERE p.parent = tbl AND p.lo < range_hi AND p.hi > range_lo);
        END IF;
        IF NOT covered THEN
            part := format('%s_p%s', tbl, to_char(range_lo, 'YYYYMMDD'));
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)',
                           tbl || '_default', key, key)
                INTO STRICT occupied USING range_lo, range_hi;
            IF occupied THEN
                -- A partition cannot be added over rows the DEFAULT partition holds in its range:
                -- they move into a table of their own first, which is then attached.
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                               part, tbl);
                EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *)
                                INSERT INTO %I SELECT * FROM moved',
                               tbl || '_default', key, key, part)
                    USING range_lo, range_hi;
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               tbl, part, range_lo, range_hi);
            ELSE
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               part, tbl, range_lo, range_hi);
            END IF;
            made := made + 1;
        END IF;
        range_lo := range_hi;
    END LOOP;
    RETURN made;
END
$$;

-- Drops every partition of `p_table` that ends before `p_cutoff` (never after now) and holds no
-- row of a run still inside retention: an unfinished run, whatever its age, or one that finished at
-- or after the cutoff. Such a run's rows are never lost; its partition waits for it. Returns the
-- partitions dropped. A partition that looks free is checked again under the table's exclusive
-- lock, which DROP takes anyway, so no row can arrive in between; the lock is waited for at most
-- 2 s (a table that cannot be had keeps its partitions until the next run) and held only from
-- then to commit.
CREATE FUNCTION runwire_drop_expired_partitions_of(p_table text, p_cutoff timestamptz)
    RETURNS SETOF text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC'
    SET lock_timeout = '2s' AS $$
DECLARE
    tbl text := runwire_log_table(p_table);
    cutoff timestamptz := least(p_cutoff, now());
    part record;
    -- A run's events and spans are never older than the run: only runs created before the
    -- partition ends can have rows in it.
    held_sql text := 'SELECT EXISTS (
                          SELECT 1 FROM agent_runs r
                          WHERE r.created_at < $1
                            AND (r.status NOT IN (''completed'', ''failed'', ''cancelled'', ''timed_out'')
                                 OR r.completed_at >= $2)
                            AND EXISTS (SELECT 1 FROM %I x WHERE x.run_id = r.id))';
    held boolean;
    locked boolean := false;
BEGIN
    -- Reading agent_runs as the owner is still filtered by row-level security (FORCE): a caller
    -- who could not see every run would find none held and drop what it must not.
    IF NOT app_is_admin() THEN
        RAISE EXCEPTION 'only the system scope drops partitions' USING ERRCODE = '42501';
    END IF;
    FOR part IN SELECT * FROM runwire_log_partitions() l WHERE l.parent = tbl AND l.hi <= cutoff LOOP
        EXECUTE format(held_sql, part.partition) INTO STRICT held USING part.hi, cutoff;
        CONTINUE WHEN held;
        IF NOT locked THEN
            BEGIN
                EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', tbl);
            EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
                RAISE WARNING '% is busy; its expired partitions are dropped on a later run', tbl;
                RETURN;
            END;
            locked := true;
            EXECUTE format(held_sql, part.partition) INTO STRICT held USING part.hi, cutoff;
            CONTINUE WHEN held;
        END IF;
        EXECUTE format('DROP TABLE %I', part.partition);
        RETURN NEXT part.partition;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION runwire_log_table(text),
    runwire_create_partitions_of(text, timestamptz, timestamptz, text),
    runwire_drop_expired_partitions_of(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runwire_create_partitions_of(text, timestamptz, timestamptz, text),
    runwire_drop_expired_partitions_of(text, timestamptz) TO runwire_app;
