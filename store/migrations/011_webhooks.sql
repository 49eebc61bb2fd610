-- Signed outbound webhooks: endpoints, the outbox of events, and one delivery row per event and
-- endpoint that subscribes to it.

-- An endpoint: where, which events (patterns such as `wallet.transfer`, `withdrawal.*`, `*`),
-- optionally only some wallets, and its signing secret (`whsec_…`). During a rotation the
-- previous secret still signs, next to the new one, until `previous_until`.
CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    url             text NOT NULL UNIQUE,
    events          text[] NOT NULL CHECK (cardinality(events) > 0),
    wallets         text[],                 -- NULL: every wallet
    secret          text NOT NULL,
    previous_secret text,
    previous_until  timestamptz,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Every event once, under its stable id (derived from its ledger key and state). `seq` is the
-- order of emission; `ordering` is what per-wallet order is kept within (a wallet's address,
-- a money move's request id; the event's own id for one that waits on nothing).
CREATE TABLE webhook_events (
    seq         bigserial UNIQUE,
    event_id    text PRIMARY KEY,
    type        text NOT NULL,
    ordering    text NOT NULL,
    wallet      text,                       -- what `--wallet` filters on
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_ordering ON webhook_events (ordering, type);

-- One row per event and subscribed endpoint: pending until delivered (a 2xx) or dead (a 4xx
-- other than 408/429, or retries past the retry window). A replay sets it pending again.
CREATE TABLE webhook_deliveries (
    endpoint_id   text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id      text NOT NULL REFERENCES webhook_events (event_id),
    seq           bigint NOT NULL,
    ordering      text NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    first_at      timestamptz NOT NULL DEFAULT now(),   -- the retry window runs from here
    last_status   integer,                  -- the receiver's last HTTP status, if any
    last_error    text,
    delivered_at  timestamptz,
    replays       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, ordering, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (endpoint_id, seq)
    WHERE status = 'dead';

-- Fan-out in the transaction that emits the event: exactly one delivery row per subscribed
-- endpoint, and a NOTIFY per endpoint so its delivery loop wakes at once.
CREATE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    endpoint text;
BEGIN
    FOR endpoint IN
        INSERT INTO webhook_deliveries (endpoint_id, event_id, seq, ordering)
        SELECT e.id, NEW.event_id, NEW.seq, NEW.ordering
        FROM webhook_endpoints e
        WHERE NEW.type <> 'webhook.test'  -- a test goes to its one endpoint only
          AND EXISTS (SELECT 1 FROM unnest(e.events) AS p
                      WHERE NEW.type LIKE replace(p, '*', '%'))
          AND (e.wallets IS NULL OR NEW.wallet = ANY (e.wallets))
        RETURNING endpoint_id
    LOOP
        PERFORM pg_notify('walletflow_webhooks', endpoint);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_events_fan_out AFTER INSERT ON webhook_events
    FOR EACH ROW EXECUTE FUNCTION webhook_fan_out();

-- Money moves: every change of a withdrawal's or trade's state is an event, emitted by the
-- statement that makes the change (whichever it is), so none is missed and none doubled. The
-- n-th time a move enters a state (a second `signed` after a version proven dead) is its own
-- event.
CREATE FUNCTION webhook_money_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text := NEW.kind;
    key text;
    n integer;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    key := kind || ':' || NEW.request_id || ':' || NEW.status;
    SELECT count(*) + 1 INTO n FROM webhook_events
        WHERE ordering = kind || ':' || NEW.request_id AND type = kind || '.' || NEW.status;
    INSERT INTO webhook_events (event_id, type, ordering, wallet, body)
    VALUES (
        'evt_' || left(encode(sha256(convert_to(key || ':' || n, 'UTF8')), 'hex'), 32),
        kind || '.' || NEW.status,
        kind || ':' || NEW.request_id,
        NEW.to_address,
        jsonb_build_object(
            'request_id', NEW.request_id, 'kind', kind, 'chain', NEW.chain,
            'asset', NEW.asset, 'output_asset', NEW.output_asset, 'to', NEW.to_address,
            'amount', NEW.amount::text, 'decimals', NEW.decimals,
            'requested_by', NEW.requested_by, 'status', NEW.status,
            'reason', NEW.status_reason, 'tx_id', NEW.tx_id, 'occurrence', n)
    )
    ON CONFLICT (event_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER withdrawals_webhook AFTER INSERT OR UPDATE OF status ON withdrawals
    FOR EACH ROW EXECUTE FUNCTION webhook_money_move();
