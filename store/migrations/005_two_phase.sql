-- Two-phase notifications and push detection.

-- A chat that wants one message at finality only (no early "pending" message).
ALTER TABLE subscriptions ADD COLUMN final_only boolean NOT NULL DEFAULT false;

-- An early message ends once, edited in place to final or dropped. `concluded` records which,
-- so a retried or replayed conclusion does nothing; `conclusion_key` names the new message
-- sent instead when the early one has no message id to edit (its outcome was unknown).
ALTER TABLE notifications
    ADD COLUMN concluded text CHECK (concluded IN ('final', 'dropped')),
    ADD COLUMN concluded_at timestamptz;

-- The push follower of a chain listens here, so a newly watched wallet is subscribed within
-- a second without polling the table.
CREATE FUNCTION notify_wallets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('walletflow_wallets', COALESCE(NEW.chain, OLD.chain));
    RETURN NULL;
END $$;
CREATE TRIGGER wallets_changed AFTER INSERT OR DELETE ON wallets
    FOR EACH ROW EXECUTE FUNCTION notify_wallets_changed();
