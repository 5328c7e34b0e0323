-- Traces inside a run: spans of agent, LLM, tool and retrieval calls, with tokens and cost.
-- A span's start, updates and end are also events of the run (span_started, span_updated,
-- span_ended, the span itself as payload), so they travel the one live path: publisher -> log ->
-- NOTIFY -> hub -> sockets, with resume and row-level security as for every event.

CREATE TYPE span_kind AS ENUM ('agent', 'llm', 'tool', 'retrieval', 'step', 'custom');
CREATE TYPE span_status AS ENUM ('running', 'ok', 'error');

CREATE TABLE agent_run_spans (
    -- The agent's own id for the span (an OpenTelemetry span id, or any short string): unique in a run.
    span_id           text NOT NULL,
    run_id            uuid NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- May name a span that has not arrived yet: exporters send children before their parent.
    parent_span_id    text,
    kind              span_kind NOT NULL,
    name              text NOT NULL,
    status            span_status NOT NULL,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    model             text,
    input_tokens      bigint CHECK (input_tokens >= 0),
    output_tokens     bigint CHECK (output_tokens >= 0),
    cache_read_tokens bigint CHECK (cache_read_tokens >= 0),
    reasoning_tokens  bigint CHECK (reasoning_tokens >= 0),
    -- null: unknown (no price for the model), never a made-up 0
    cost_usd          double precision CHECK (cost_usd >= 0),
    attributes        jsonb NOT NULL DEFAULT '{}',
    input_preview     text,
    output_preview    text,
    error             text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, span_id),
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
);
CREATE INDEX agent_run_spans_user_idx ON agent_run_spans (user_id, started_at);
CREATE INDEX agent_run_spans_model_idx ON agent_run_spans (user_id, model) WHERE model IS NOT NULL;

ALTER TABLE agent_run_spans ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_run_spans FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_run_spans_owner ON agent_run_spans
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());
GRANT SELECT, INSERT, UPDATE ON agent_run_spans TO runwire_app;

-- An ended span is final: what it says about tokens and cost is what the run's totals count.
CREATE FUNCTION agent_run_spans_guard_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'running' THEN
        RAISE EXCEPTION 'span % of run % has already ended', OLD.span_id, OLD.run_id
            USING ERRCODE = 'RW409', CONSTRAINT = 'agent_run_spans_final';
    END IF;
    IF NEW.run_id IS DISTINCT FROM OLD.run_id OR NEW.user_id IS DISTINCT FROM OLD.user_id
       OR NEW.span_id IS DISTINCT FROM OLD.span_id THEN
        RAISE EXCEPTION 'the run, owner and id of a span never change' USING ERRCODE = 'RW409';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER agent_run_spans_guard_update BEFORE UPDATE ON agent_run_spans
    FOR EACH ROW EXECUTE FUNCTION agent_run_spans_guard_update();

ALTER TABLE agent_run_events DROP CONSTRAINT agent_run_events_kind;
ALTER TABLE agent_run_events ADD CONSTRAINT agent_run_events_kind
    CHECK (kind IN ('started', 'progress', 'status', 'verification', 'completed', 'failed',
                    'cancelled', 'timed_out', 'span_started', 'span_updated', 'span_ended'));

-- Spans may arrive after their run has finished (an exporter sends what it has in batches), so a
-- finished run still takes span totals: tokens and cost, and nothing else.
CREATE OR REPLACE FUNCTION agent_runs_guard_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF run_status_is_terminal(OLD.status)
       AND (NEW.status, NEW.progress_percent, NEW.current_step, NEW.attempt, NEW.result, NEW.error,
            NEW.verification_evidence, NEW.metadata, NEW.task, NEW.agent_name, NEW.task_id,
            NEW.started_at, NEW.completed_at)
           IS DISTINCT FROM
           (OLD.status, OLD.progress_percent, OLD.current_step, OLD.attempt, OLD.result, OLD.error,
            OLD.verification_evidence, OLD.metadata, OLD.task, OLD.agent_name, OLD.task_id,
            OLD.started_at, OLD.completed_at) THEN
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
