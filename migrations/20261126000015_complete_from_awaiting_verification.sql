-- The system runwire replaces completes (or fails) a run straight from awaiting_verification, with no
-- `verifying` step between; its agents do exactly that, so it is legal here too. src/model/status.rs
-- holds the same table; tests/schema.rs checks that the two agree on every pair.
CREATE OR REPLACE FUNCTION run_status_transition_allowed(from_status run_status, to_status run_status) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE from_status
        WHEN 'pending' THEN to_status IN ('queued', 'in_progress', 'cancelled')
        WHEN 'queued' THEN to_status IN ('in_progress', 'cancelled', 'timed_out')
        WHEN 'in_progress' THEN to_status IN ('paused', 'awaiting_verification', 'retrying', 'completed',
                                              'failed', 'cancelled', 'timed_out')
        WHEN 'paused' THEN to_status IN ('in_progress', 'cancelled', 'timed_out')
        WHEN 'awaiting_verification' THEN to_status IN ('verifying', 'completed', 'failed', 'cancelled',
                                                        'timed_out')
        WHEN 'verifying' THEN to_status IN ('completed', 'retrying', 'failed', 'timed_out')
        WHEN 'retrying' THEN to_status IN ('in_progress', 'failed', 'cancelled')
        ELSE false
    END;
