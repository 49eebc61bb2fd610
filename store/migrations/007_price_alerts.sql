-- Price alerts (`alert-{chat}-{alert_id}`): a projection of each alert workflow's state, kept
-- by the workflow, for listing.
CREATE TABLE price_alerts (
    workflow_id text PRIMARY KEY,
    chat_id bigint NOT NULL,
    alert_id text NOT NULL,
    chain text NOT NULL,
    symbol text NOT NULL,
    description text NOT NULL,
    version bigint NOT NULL,
    status jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, alert_id)
);

-- What each provider's price-watch loop watches: one condition per watch (an alert's next
-- change of state, or a position's take-profit / stop-loss), signalled to `workflow_id` when
-- met. `version` grows with each registration, so the loop can tell a fresh watch from one it
-- has already reported.
CREATE TABLE price_watches (
    watch_id text PRIMARY KEY,
    workflow_id text NOT NULL,
    provider text NOT NULL,
    price_id text NOT NULL,
    op text NOT NULL CHECK (op IN ('ge', 'gt', 'le', 'lt', 'move_ge', 'move_le', 'move_within')),
    level numeric NOT NULL,
    window_seconds integer NOT NULL DEFAULT 0,
    not_before double precision NOT NULL DEFAULT 0,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX price_watches_provider ON price_watches (provider);
CREATE INDEX price_watches_workflow ON price_watches (workflow_id);

-- The price-watch loop of a provider listens here (payload: provider and watch id), so a new
-- or re-armed watch counts at the next poll without re-reading the table.
CREATE FUNCTION notify_price_watches_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('walletflow_price_watches',
                      COALESCE(NEW.provider, OLD.provider) || ' ' ||
                      COALESCE(NEW.watch_id, OLD.watch_id));
    RETURN NULL;
END $$;
CREATE TRIGGER price_watches_changed AFTER INSERT OR UPDATE OR DELETE ON price_watches
    FOR EACH ROW EXECUTE FUNCTION notify_price_watches_changed();
