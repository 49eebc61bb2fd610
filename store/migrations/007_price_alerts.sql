-- Price alerts (`alert-{chat}-{alert_id}`): a projection of each alert workflow's state, kept
-- by the workflow, for listing and for the price-watch loop of its provider. `op`/`level` is
-- the one condition the loop watches for it (NULL while paused); `version` grows with each
-- registration, so the loop can tell a fresh watch from one it has already reported.
CREATE TABLE price_alerts (
    workflow_id text PRIMARY KEY,
    chat_id bigint NOT NULL,
    alert_id text NOT NULL,
    chain text NOT NULL,
    symbol text NOT NULL,
    provider text NOT NULL,
    price_id text NOT NULL,
    description text NOT NULL,
    op text CHECK (op IN ('ge', 'gt', 'le', 'lt', 'move_ge', 'move_le', 'move_within')),
    level numeric,
    window_seconds integer NOT NULL DEFAULT 0,
    not_before double precision NOT NULL DEFAULT 0,
    version bigint NOT NULL,
    status jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, alert_id)
);
CREATE INDEX price_alerts_provider ON price_alerts (provider) WHERE op IS NOT NULL;

-- The price-watch loop of a provider listens here (payload: provider and workflow id), so a
-- new or re-armed alert is watched at the next poll without re-reading the table.
CREATE FUNCTION notify_price_alerts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('walletflow_price_alerts',
                      COALESCE(NEW.provider, OLD.provider) || ' ' ||
                      COALESCE(NEW.workflow_id, OLD.workflow_id));
    RETURN NULL;
END $$;
CREATE TRIGGER price_alerts_changed AFTER INSERT OR UPDATE OR DELETE ON price_alerts
    FOR EACH ROW EXECUTE FUNCTION notify_price_alerts_changed();
