-- Authority: the roster of principals (public keys and roles) that workflows verify signed
-- intents against, and an audit log that can only grow.

CREATE TABLE principals (
    id          text PRIMARY KEY,
    public_key  text NOT NULL UNIQUE CHECK (public_key ~ '^[0-9a-f]{64}$'),
    roles       text[] NOT NULL DEFAULT '{}'
                CHECK (roles <@ ARRAY['requester', 'approver', 'admin']::text[]),
    users       jsonb NOT NULL DEFAULT '{}',  -- a service principal (the bot) signs for these
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Who acted (principal, or the user a service principal signed for), what came of it, and a
-- key that makes a retried write a no-op (a local activity may run twice).
ALTER TABLE audit_log
    ADD COLUMN principal  text,
    ADD COLUMN outcome    text,
    ADD COLUMN reason     text,
    ADD COLUMN key        text UNIQUE;
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only: no row of the audit log is ever changed or removed.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
