-- The event log and the spans, partitioned by time (native declarative partitioning), so that
-- retention drops a whole partition, a catalog change that writes almost no WAL, instead of
-- deleting millions of rows one by one.
--
-- * agent_run_events is partitioned by its own `created_at`: a month of the log is one partition.
--   New events always go to the partition of now, so an old partition only ever loses rows.
-- * agent_run_spans is partitioned by `run_created_at`, its run's creation time (copied, and held
--   to the run by the foreign key): a span is rewritten in place until it ends, so its partition
--   key must never change, and an upsert's conflict target has to include it.
--
-- The scheduler's cleanup job creates partitions ahead (runwire_create_log_partitions) and drops
-- the ones every run of which is past retention (runwire_drop_expired_log_partitions). Rows that
-- arrive when no partition covers them land in a DEFAULT partition and are moved into theirs when
-- it is created: nothing is ever refused or lost for want of a partition.
--
-- Event ids stay one global, increasing identity: a cursor "after id N" reads every partition's
-- primary-key index (id, created_at) in one merge, whatever partition each event is in.

-- The ranges of the log's partitions. The bounds are read back from the catalog, in UTC.
CREATE FUNCTION runwire_log_partitions()
    RETURNS TABLE (parent text, partition text, lo timestamptz, hi timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC' AS $$
    SELECT p.relname::text, c.relname::text, b[1]::timestamptz, b[2]::timestamptz
    FROM pg_inherits i
    JOIN pg_class p ON p.oid = i.inhparent
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
    WHERE p.relname IN ('agent_run_events', 'agent_run_spans')
      AND p.relnamespace = 'public'::regnamespace
    ORDER BY 1, 3
$$;

-- Creates the partitions of both tables for every `p_unit` (day, week or month, in UTC) that
-- [p_from, p_until) touches and no partition covers yet; a range that overlaps an existing
-- partition of another unit is left to the DEFAULT partition. Rows already in the DEFAULT partition
-- for a new range are moved into it. Returns how many partitions it made.
CREATE FUNCTION runwire_create_log_partitions(p_from timestamptz, p_until timestamptz, p_unit text)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC' AS $$
DECLARE
    range_lo timestamptz;
    range_hi timestamptz;
    tbl text;
    key text;
    part text;
    occupied boolean;
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
        FOREACH tbl IN ARRAY ARRAY['agent_run_events', 'agent_run_spans'] LOOP
            CONTINUE WHEN EXISTS (SELECT 1 FROM runwire_log_partitions() p
                                  WHERE p.parent = tbl AND p.lo < range_hi AND p.hi > range_lo);
            key := CASE tbl WHEN 'agent_run_events' THEN 'created_at' ELSE 'run_created_at' END;
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
        END LOOP;
        range_lo := range_hi;
    END LOOP;
    RETURN made;
END
$$;

-- Drops every partition of either table that ends before `p_cutoff` (never after now) and holds no
-- row of a run still inside retention: an unfinished run, whatever its age, or one that finished at
-- or after the cutoff. Such a run's rows are never lost; its partition waits for it. Returns the
-- partitions dropped. A partition that looks free is checked again under the table's exclusive
-- lock, which DROP takes anyway, so no row can arrive in between; the lock is waited for at most
-- 2 s (a partition that cannot get it is left for the next run) and held only from then to commit.
CREATE FUNCTION runwire_drop_expired_log_partitions(p_cutoff timestamptz)
    RETURNS SETOF text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC'
    SET lock_timeout = '2s' AS $$
DECLARE
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
    -- tables whose lock was not had in time: their other partitions wait for the next run too
    busy text[] := '{}';
BEGIN
    -- Reading agent_runs as the owner is still filtered by row-level security (FORCE): a caller
    -- who could not see every run would find none held and drop what it must not.
    IF NOT app_is_admin() THEN
        RAISE EXCEPTION 'only the system scope drops partitions' USING ERRCODE = '42501';
    END IF;
    FOR part IN SELECT * FROM runwire_log_partitions() l WHERE l.hi <= cutoff LOOP
        CONTINUE WHEN part.parent = ANY (busy);
        EXECUTE format(held_sql, part.partition) INTO STRICT held USING part.hi, cutoff;
        CONTINUE WHEN held;
        BEGIN
            EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', part.parent);
            EXECUTE format(held_sql, part.partition) INTO STRICT held USING part.hi, cutoff;
            IF NOT held THEN
                EXECUTE format('DROP TABLE %I', part.partition);
                RETURN NEXT part.partition;
            END IF;
        EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
            RAISE WARNING '% is busy; its expired partitions are dropped on a later run', part.parent;
            busy := busy || part.parent;
        END;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION runwire_log_partitions(), runwire_create_log_partitions(timestamptz, timestamptz, text),
    runwire_drop_expired_log_partitions(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runwire_log_partitions(), runwire_create_log_partitions(timestamptz, timestamptz, text),
    runwire_drop_expired_log_partitions(timestamptz) TO runwire_app;

-- The tables as they were step aside; their rows are copied into the partitioned ones below.
ALTER TABLE agent_run_events RENAME TO agent_run_events_unpartitioned;
ALTER SEQUENCE agent_run_events_id_seq RENAME TO agent_run_events_unpartitioned_id_seq;
ALTER TABLE agent_run_spans RENAME TO agent_run_spans_unpartitioned;

CREATE TABLE agent_run_events (
    -- Global, increasing: the cursor a subscriber resumes from.
    id         bigint GENERATED ALWAYS AS IDENTITY,
    run_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    kind       text NOT NULL,
    status     run_status NOT NULL,
    progress   real CONSTRAINT agent_run_events_progress_check CHECK (progress >= 0 AND progress <= 100),
    step       text,
    payload    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- See 20261125000005_publisher.sql: readers resume only past transactions older than any running.
    tx_id      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT agent_run_events_kind
        CHECK (kind IN ('started', 'progress', 'status', 'verification', 'completed', 'failed',
                        'cancelled', 'timed_out', 'span_started', 'span_updated', 'span_ended'))
) PARTITION BY RANGE (created_at);
CREATE TABLE agent_run_events_default PARTITION OF agent_run_events DEFAULT;

CREATE TABLE agent_run_spans (
    span_id           text NOT NULL,
    run_id            uuid NOT NULL,
    user_id           uuid NOT NULL,
    parent_span_id    text,
    kind              span_kind NOT NULL,
    name              text NOT NULL,
    status            span_status NOT NULL,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    model             text,
    input_tokens      bigint CONSTRAINT agent_run_spans_input_tokens_check CHECK (input_tokens >= 0),
    output_tokens     bigint CONSTRAINT agent_run_spans_output_tokens_check CHECK (output_tokens >= 0),
    cache_read_tokens bigint CONSTRAINT agent_run_spans_cache_read_tokens_check CHECK (cache_read_tokens >= 0),
    reasoning_tokens  bigint CONSTRAINT agent_run_spans_reasoning_tokens_check CHECK (reasoning_tokens >= 0),
    cost_usd          double precision CONSTRAINT agent_run_spans_cost_usd_check CHECK (cost_usd >= 0),
    attributes        jsonb NOT NULL DEFAULT '{}',
    input_preview     text,
    output_preview    text,
    error             text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- The run's created_at: the partition key, which never changes while the span is rewritten.
    run_created_at    timestamptz NOT NULL,
    CONSTRAINT agent_run_spans_id_length CHECK (char_length(span_id) BETWEEN 1 AND 64),
    CONSTRAINT agent_run_spans_parent_length CHECK (char_length(parent_span_id) BETWEEN 1 AND 64),
    CONSTRAINT agent_run_spans_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT agent_run_spans_model_length CHECK (char_length(model) BETWEEN 1 AND 200),
    CONSTRAINT agent_run_spans_previews CHECK (char_length(input_preview) <= 4096
                                               AND char_length(output_preview) <= 4096
                                               AND char_length(error) <= 4096),
    CONSTRAINT agent_run_spans_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    CONSTRAINT agent_run_spans_ended_when_done CHECK ((ended_at IS NULL) = (status = 'running')),
    CONSTRAINT agent_run_spans_ends_after_start CHECK (ended_at >= started_at)
) PARTITION BY RANGE (run_created_at);
CREATE TABLE agent_run_spans_default PARTITION OF agent_run_spans DEFAULT;

-- Monthly partitions from the oldest row there is (at most 900 days back; older rows stay in the
-- DEFAULT partition) to two months ahead.
SELECT runwire_create_log_partitions(
    greatest(least((SELECT min(created_at) FROM agent_run_events_unpartitioned),
                   (SELECT min(r.created_at) FROM agent_runs r
                    WHERE EXISTS (SELECT 1 FROM agent_run_spans_unpartitioned s WHERE s.run_id = r.id)),
                   now()),
             now() - interval '900 days'),
    now() + interval '2 months',
    'month');

INSERT INTO agent_run_events (id, run_id, user_id, kind, status, progress, step, payload, created_at,
                              tx_id)
OVERRIDING SYSTEM VALUE
SELECT id, run_id, user_id, kind, status, progress, step, payload, created_at, tx_id
FROM agent_run_events_unpartitioned;
SELECT setval(pg_get_serial_sequence('agent_run_events', 'id'),
              coalesce((SELECT max(id) FROM agent_run_events_unpartitioned), 1),
              (SELECT max(id) IS NOT NULL FROM agent_run_events_unpartitioned));

INSERT INTO agent_run_spans (span_id, run_id, user_id, parent_span_id, kind, name, status, started_at,
                             ended_at, model, input_tokens, output_tokens, cache_read_tokens,
                             reasoning_tokens, cost_usd, attributes, input_preview, output_preview,
                             error, updated_at, run_created_at)
SELECT s.span_id, s.run_id, s.user_id, s.parent_span_id, s.kind, s.name, s.status, s.started_at,
       s.ended_at, s.model, s.input_tokens, s.output_tokens, s.cache_read_tokens, s.reasoning_tokens,
       s.cost_usd, s.attributes, s.input_preview, s.output_preview, s.error, s.updated_at, r.created_at
FROM agent_run_spans_unpartitioned s JOIN agent_runs r ON r.id = s.run_id;

DROP TABLE agent_run_events_unpartitioned, agent_run_spans_unpartitioned;

-- Keys and indexes, as before; each unique key includes the partition key, as PostgreSQL requires.
ALTER TABLE agent_run_events ADD PRIMARY KEY (id, created_at);
CREATE INDEX agent_run_events_run_idx ON agent_run_events (run_id, id);
CREATE INDEX agent_run_events_user_idx ON agent_run_events (user_id, id);
ALTER TABLE agent_run_events ADD CONSTRAINT agent_run_events_run_owner_fkey
    FOREIGN KEY (run_id, user_id) REFERENCES agent_runs (id, user_id) ON DELETE CASCADE;

-- A span's run_created_at is its run's: the key says so, and the run's created_at can then never
-- change under its spans.
ALTER TABLE agent_runs ADD CONSTRAINT agent_runs_id_user_created_key UNIQUE (id, user_id, created_at);
ALTER TABLE agent_run_spans ADD PRIMARY KEY (run_id, span_id, run_created_at);
CREATE INDEX agent_run_spans_user_idx ON agent_run_spans (user_id, started_at);
CREATE INDEX agent_run_spans_model_idx ON agent_run_spans (user_id, model) WHERE model IS NOT NULL;
CREATE INDEX agent_run_spans_run_start_idx ON agent_run_spans (run_id, started_at, span_id);
ALTER TABLE agent_run_spans ADD CONSTRAINT agent_run_spans_run_owner_fkey
    FOREIGN KEY (run_id, user_id, run_created_at) REFERENCES agent_runs (id, user_id, created_at)
    ON DELETE CASCADE;

CREATE TRIGGER agent_run_events_append_only BEFORE UPDATE ON agent_run_events
    FOR EACH ROW EXECUTE FUNCTION agent_run_events_reject_change();
CREATE TRIGGER agent_run_events_notify AFTER INSERT ON agent_run_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION agent_run_events_notify();
CREATE TRIGGER agent_run_spans_guard_update BEFORE UPDATE ON agent_run_spans
    FOR EACH ROW EXECUTE FUNCTION agent_run_spans_guard_update();

-- Row-level security on the parents, which is where every query goes: the application has no
-- privilege on a partition itself.
ALTER TABLE agent_run_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_run_events FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_run_events_owner ON agent_run_events
    USING (user_id = (SELECT app_user_id()) OR (SELECT app_is_admin()))
    WITH CHECK (user_id = (SELECT app_user_id()) OR (SELECT app_is_admin()));
ALTER TABLE agent_run_spans ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_run_spans FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_run_spans_owner ON agent_run_spans
    USING (user_id = (SELECT app_user_id()) OR (SELECT app_is_admin()))
    WITH CHECK (user_id = (SELECT app_user_id()) OR (SELECT app_is_admin()));

-- Events are append-only for the application: no UPDATE, no DELETE.
GRANT SELECT, INSERT ON agent_run_events TO runwire_app;
GRANT SELECT, INSERT, UPDATE ON agent_run_spans TO runwire_app;

ANALYZE agent_run_events;
ANALYZE agent_run_spans;
