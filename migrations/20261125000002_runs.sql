-- Agent runs and their append-only event log.

CREATE TYPE run_status AS ENUM (
    'pending', 'queued', 'in_progress', 'paused', 'awaiting_verification', 'verifying', 'retrying',
    'completed', 'failed', 'cancelled', 'timed_out'
);

CREATE FUNCTION run_status_is_terminal(s run_status) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN s IN ('completed', 'failed', 'cancelled', 'timed_out');

-- The legal transition table. src/model/status.rs holds the same table; tests/schema.rs checks that the
-- two agree on all 121 pairs.
CREATE FUNCTION run_status_transition_allowed(from_status run_status, to_status run_status) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE from_status
        WHEN 'pending' THEN to_status IN ('queued', 'in_progress', 'cancelled')
        WHEN 'queued' THEN to_status IN ('in_progress', 'cancelled', 'timed_out')
        WHEN 'in_progress' THEN to_status IN ('paused', 'awaiting_verification', 'retrying', 'completed',
                                              'failed', 'cancelled', 'timed_out')
        WHEN 'paused' THEN to_status IN ('in_progress', 'cancelled', 'timed_out')
        WHEN 'awaiting_verification' THEN to_status IN ('verifying', 'cancelled', 'timed_out')
        WHEN 'verifying' THEN to_status IN ('completed', 'retrying', 'failed', 'timed_out')
        WHEN 'retrying' THEN to_status IN ('in_progress', 'failed', 'cancelled')
        ELSE false
    END;

CREATE TABLE agent_runs (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id               uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id               uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_name            text NOT NULL,
    task                  text NOT NULL,
    status                run_status NOT NULL DEFAULT 'pending',
    progress_percent      real NOT NULL DEFAULT 0,
    current_step          text,
    -- 1 for the first try; a run moving to `retrying` starts attempt + 1, where progress may start over
    attempt               integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    result                jsonb,
    error                 text,
    verification_evidence jsonb NOT NULL DEFAULT '[]',
    metadata              jsonb NOT NULL DEFAULT '{}',
    tokens_in             bigint CHECK (tokens_in >= 0),
    tokens_out            bigint CHECK (tokens_out >= 0),
    cost_usd              double precision CHECK (cost_usd >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    completed_at          timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_runs_agent_name_length CHECK (char_length(agent_name) BETWEEN 1 AND 100),
    CONSTRAINT agent_runs_task_length CHECK (char_length(task) BETWEEN 1 AND 65536),
    CONSTRAINT agent_runs_progress_range CHECK (progress_percent >= 0 AND progress_percent <= 100),
    CONSTRAINT agent_runs_verification_is_list CHECK (jsonb_typeof(verification_evidence) = 'array'),
    CONSTRAINT agent_runs_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT agent_runs_completed_when_terminal CHECK ((completed_at IS NOT NULL) = run_status_is_terminal(status))
);

-- Dashboard list and keyset pagination: newest first per user.
CREATE INDEX agent_runs_user_created_idx ON agent_runs (user_id, created_at DESC, id DESC);
-- "Active now": small partial index, it only holds unfinished runs.
CREATE INDEX agent_runs_user_active_idx ON agent_runs (user_id, status, created_at DESC)
    WHERE status NOT IN ('completed', 'failed', 'cancelled', 'timed_out');
-- Status filter and stats over finished runs.
CREATE INDEX agent_runs_user_status_idx ON agent_runs (user_id, status, created_at DESC);
CREATE INDEX agent_runs_task_id_idx ON agent_runs (task_id);
-- Agent filter (exact and prefix) and free-text search (substring, pg_trgm).
CREATE INDEX agent_runs_user_agent_idx ON agent_runs (user_id, agent_name text_pattern_ops);
CREATE INDEX agent_runs_agent_name_trgm_idx ON agent_runs USING gin (agent_name gin_trgm_ops);
CREATE INDEX agent_runs_task_trgm_idx ON agent_runs USING gin (task gin_trgm_ops);
CREATE INDEX agent_runs_current_step_trgm_idx ON agent_runs USING gin (current_step gin_trgm_ops);

-- Rejects illegal status transitions, any write to a finished run, and progress moving backwards
-- within one attempt. The publisher checks the same rules first to give typed errors; this is the
-- backstop that holds whatever code writes the table.
CREATE FUNCTION agent_runs_guard_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF run_status_is_terminal(OLD.status) THEN
        RAISE EXCEPTION 'run % is already % and cannot change', OLD.id, OLD.status
            USING ERRCODE = 'RW409', CONSTRAINT = 'agent_runs_terminal';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status
       AND NOT run_status_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'illegal run status transition % -> %', OLD.status, NEW.status
            USING ERRCODE = 'RW409', CONSTRAINT = 'agent_runs_status_transition';
    END IF;
    IF NEW.progress_percent < OLD.progress_percent AND NEW.attempt = OLD.attempt THEN
        RAISE EXCEPTION 'progress of run % cannot move backwards (% -> %) within an attempt',
            OLD.id, OLD.progress_percent, NEW.progress_percent
            USING ERRCODE = 'RW422', CONSTRAINT = 'agent_runs_progress_forward';
    END IF;
    IF NEW.user_id IS DISTINCT FROM OLD.user_id OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'the owner and id of a run never change' USING ERRCODE = 'RW409';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER agent_runs_guard_update BEFORE UPDATE ON agent_runs
    FOR EACH ROW EXECUTE FUNCTION agent_runs_guard_update();

CREATE TABLE agent_run_events (
    -- Global, increasing: the cursor a subscriber resumes from.
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     uuid NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    status     run_status NOT NULL,
    progress   real CHECK (progress >= 0 AND progress <= 100),
    step       text,
    payload    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_run_events_kind CHECK (kind IN ('started', 'progress', 'status', 'verification',
                                                     'completed', 'failed', 'cancelled', 'timed_out'))
);
CREATE INDEX agent_run_events_run_idx ON agent_run_events (run_id, id);
CREATE INDEX agent_run_events_user_idx ON agent_run_events (user_id, id);

CREATE FUNCTION agent_run_events_reject_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'agent_run_events is append-only' USING ERRCODE = 'RW409';
END
$$;
CREATE TRIGGER agent_run_events_append_only BEFORE UPDATE ON agent_run_events
    FOR EACH ROW EXECUTE FUNCTION agent_run_events_reject_change();

-- The payload is the event id and owner only; listeners read the row itself, so the 8000-byte NOTIFY
-- limit never truncates an event.
CREATE FUNCTION agent_run_events_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agent_run_events',
                      json_build_object('id', NEW.id, 'user_id', NEW.user_id)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER agent_run_events_notify AFTER INSERT ON agent_run_events
    FOR EACH ROW EXECUTE FUNCTION agent_run_events_notify();
