-- Service tokens: a backend that publishes for many end users with one key names each run's user in
-- `user_id`, by runwire id or by the id the user has in that backend (`external_id`, set by an
-- admin). Only an admin can create a token with the `runs:write:any` scope.
ALTER TABLE users ADD COLUMN external_id text
    CONSTRAINT users_external_id_length CHECK (char_length(external_id) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX users_external_id_key ON users (external_id) WHERE external_id IS NOT NULL;

ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scopes_known;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scopes_known
    CHECK (scopes <@ '{runs:write,runs:read,admin,runs:write:any}'::text[] AND cardinality(scopes) >= 1);
