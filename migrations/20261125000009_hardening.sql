-- Hardening: scoped, expiring API tokens; notices that end live sockets of a signed-out session or a
-- revoked token; a bounded verification history; every tenant table under FORCE ROW LEVEL SECURITY;
-- and an application role that logs in by itself instead of being reached with SET ROLE.

-- An application role that someone else created with powers it must not have is never reused.
DO $$
DECLARE
    r pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = 'runwire_app';
    IF r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication THEN
        RAISE EXCEPTION 'role runwire_app has SUPERUSER, BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION; '
                        'remove them (ALTER ROLE runwire_app NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB '
                        'NOREPLICATION) before migrating';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_auth_members WHERE member = r.oid) THEN
        RAISE EXCEPTION 'role runwire_app is a member of other roles (%); revoke them before migrating',
            (SELECT string_agg(roleid::regrole::text, ', ') FROM pg_auth_members WHERE member = r.oid);
    END IF;
END
$$;

-- API tokens: what a token may do, and until when.
ALTER TABLE api_tokens
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{runs:write}',
    ADD COLUMN expires_at timestamptz;
-- Tokens made before scopes existed could read and write runs: they keep exactly that, never admin.
UPDATE api_tokens SET scopes = '{runs:write,runs:read}';
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scopes_known
    CHECK (scopes <@ '{runs:write,runs:read,admin}'::text[] AND cardinality(scopes) >= 1);

-- A signed-out (or expired and cleaned) session and a revoked token tell every server process, whose
-- live sockets opened with that credential then close.
CREATE FUNCTION sessions_notify_end() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('runwire_credentials', 's:' || encode(OLD.token_hash, 'hex'));
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_notify_end AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_notify_end();

CREATE FUNCTION api_tokens_notify_end() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('runwire_credentials', 't:' || OLD.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER api_tokens_notify_revoked AFTER UPDATE ON api_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION api_tokens_notify_end();
CREATE TRIGGER api_tokens_notify_deleted AFTER DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_notify_end();

-- A run keeps at most 20 verification attempts (src/model/update.rs says the same first).
ALTER TABLE agent_runs ADD CONSTRAINT agent_runs_verification_bounded
    CHECK (jsonb_array_length(verification_evidence) <= 20);

-- Idempotency keys are tenant data too.
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_owner ON idempotency_keys
    USING (user_id = app_user_id() OR app_is_admin())
    WITH CHECK (user_id = app_user_id() OR app_is_admin());

-- Row-level security holds for the tables' owner too, except a superuser (PostgreSQL exempts
-- superusers and BYPASSRLS roles from every policy).
ALTER TABLE agent_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE agent_run_events FORCE ROW LEVEL SECURITY;
ALTER TABLE agent_jobs FORCE ROW LEVEL SECURITY;
ALTER TABLE run_rollup_hourly FORCE ROW LEVEL SECURITY;
ALTER TABLE job_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE health_samples FORCE ROW LEVEL SECURITY;
ALTER TABLE daily_reports FORCE ROW LEVEL SECURITY;
ALTER TABLE alerts_sent FORCE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;

-- The application role logs in with its own password, kept here where only the owner can read it.
-- `SET ROLE` from the owner's login could be undone by a `RESET ROLE` in any query; a login cannot.
CREATE TABLE runwire_secrets (
    name  text PRIMARY KEY,
    value text NOT NULL
);
REVOKE ALL ON runwire_secrets FROM PUBLIC;
INSERT INTO runwire_secrets (name, value)
VALUES ('app_role_password', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
DO $$
BEGIN
    EXECUTE format('ALTER ROLE runwire_app LOGIN PASSWORD %L',
                   (SELECT value FROM runwire_secrets WHERE name = 'app_role_password'));
END
$$;
-- No statement or idle transaction of the application may hold a connection for long.
ALTER ROLE runwire_app SET statement_timeout = '30s';
ALTER ROLE runwire_app SET idle_in_transaction_session_timeout = '60s';

-- Sign-in and sign-up attempts are counted before they are checked (not failures after), each key
-- with its own window.
ALTER TABLE sign_in_failures RENAME TO auth_attempts;
ALTER TABLE auth_attempts RENAME COLUMN failures TO attempts;
ALTER TABLE auth_attempts RENAME CONSTRAINT sign_in_failures_failures_check TO auth_attempts_attempts_check;
ALTER INDEX sign_in_failures_window_idx RENAME TO auth_attempts_window_idx;
ALTER INDEX sign_in_failures_pkey RENAME TO auth_attempts_pkey;
ALTER TABLE auth_attempts ADD COLUMN window_secs integer NOT NULL DEFAULT 900 CHECK (window_secs > 0);
DELETE FROM auth_attempts;
