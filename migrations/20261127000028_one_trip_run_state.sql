-- A publish in one round trip: write a run's state and append its events, in one statement that
-- commits on its own, if the run's row is still the version the publisher computed the change from.
--
-- Why: a publish was five round trips (BEGIN with the caller's scope, lock and read the run, UPDATE
-- it, INSERT the events, COMMIT), 1.1 of the 1.5 ms `benches/live.rs` measured from the publish call
-- to the browser. The publisher now keeps the runs it wrote last, with their row version (`xmin`:
-- the transaction that wrote the row), computes an update from that copy with the rules in
-- `src/model` as before, and calls this. When anyone has written the row since (another request,
-- another server process), the version no longer matches, nothing is written, and the publisher
-- takes the five-trip path, which locks and reads the row.
--
-- The caller's scope is set first, for this transaction only, so row-level security applies to the
-- UPDATE and the INSERT as it does in a scoped transaction (src/server/db/scope.rs). The run is
-- written before the events, as `events::append` requires: the transaction takes its id at its first
-- write, before any event id.
--
-- Returns the row's new version and `updated_at` (the transaction's time, which the events carry
-- too), or no row when the version did not match or the run is not the caller's to see.
CREATE FUNCTION runwire_save_state_and_append(
    p_user_id uuid, p_role text, p_run_id uuid, p_version bigint,
    p_status run_status, p_progress real, p_step text,
    p_kinds text[], p_statuses run_status[], p_progresses real[], p_steps text[], p_payloads text[])
    RETURNS TABLE (version bigint, updated_at timestamptz)
    LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    PERFORM set_config('app.user_id', p_user_id::text, true), set_config('app.role', p_role, true);
    UPDATE agent_runs r
        SET status = p_status, progress_percent = p_progress, current_step = p_step
        WHERE r.id = p_run_id AND r.xmin = p_version::text::xid
        RETURNING r.xmin::text::bigint, r.updated_at, r.user_id INTO version, updated_at, owner;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO agent_run_events (run_id, user_id, kind, status, progress, step, payload)
        SELECT p_run_id, owner, e.kind, e.status, e.progress, e.step, e.payload::json
        FROM unnest(p_kinds, p_statuses, p_progresses, p_steps, p_payloads)
            WITH ORDINALITY AS e(kind, status, progress, step, payload, n)
        ORDER BY e.n;
    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION runwire_save_state_and_append(uuid, text, uuid, bigint, run_status, real, text,
    text[], run_status[], real[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runwire_save_state_and_append(uuid, text, uuid, bigint, run_status, real,
    text, text[], run_status[], real[], text[], text[]) TO runwire_app;
