-- Deposit addresses: one per customer and chain, derived from one key-store seed at index
-- `idx` (chains/<chain> DEPOSIT_PATH). No per-address key is stored anywhere.
-- The index comes from a sequence, never a hash: two customers can't collide.
CREATE SEQUENCE customer_index MINVALUE 0 START 0;
CREATE TABLE customers (
    customer    text PRIMARY KEY,
    idx         bigint NOT NULL UNIQUE DEFAULT nextval('customer_index')
                CHECK (idx < 2147483648),  -- a BIP-32 index below the hardened range
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deposit_addresses (
    chain       text NOT NULL CHECK (chain IN ('solana', 'tron')),
    address     text NOT NULL,
    customer    text NOT NULL REFERENCES customers (customer),
    idx         bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, address),
    UNIQUE (chain, customer)
);

-- Credited deposits: a final incoming transfer of a listed asset, at least the asset's
-- minimum, to a deposit address. The unique key makes a credit happen once, however often
-- the monitor reads the transaction. `seq` orders credits; a sweep covers an address's
-- uncovered credits of one asset up to the newest, and is named after it
-- (`sweep-{chain}-{address}-{seq}`).
CREATE TABLE deposits (
    seq           bigserial PRIMARY KEY,
    chain         text NOT NULL,
    address       text NOT NULL,
    customer      text NOT NULL,
    tx_id         text NOT NULL,
    idx           integer NOT NULL,
    asset         text NOT NULL,           -- 'SOL' / 'TRX', or the token's mint / contract
    symbol        text NOT NULL,
    decimals      integer NOT NULL CHECK (decimals >= 0),
    amount        numeric(78, 0) NOT NULL CHECK (amount > 0),
    block         bigint NOT NULL,
    confirmed_at  timestamptz,
    credited_at   timestamptz NOT NULL DEFAULT now(),
    sweep_id      text,                    -- the sweep that covers it, once one started
    UNIQUE (chain, tx_id, idx, address),
    FOREIGN KEY (chain, address) REFERENCES deposit_addresses (chain, address)
);
CREATE INDEX deposits_uncovered ON deposits (chain, address, asset) WHERE sweep_id IS NULL;
CREATE INDEX deposits_customer ON deposits (customer, seq);

-- Sweeps are money moves: rows of `withdrawals` of kind 'sweep' (from a deposit address to
-- the hot wallet), under the same rules and ledger.
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_kind_check;
ALTER TABLE withdrawals
    ADD CONSTRAINT withdrawals_kind_check CHECK (kind IN ('withdrawal', 'trade', 'sweep')),
    ADD COLUMN from_address text;

-- A standing `sweep` statement per chain (walletflow sweeps authorize): what automatic
-- sweeps carry, verified by each sweep workflow.
CREATE TABLE sweep_authority (
    chain       text PRIMARY KEY,
    intent      jsonb NOT NULL,
    expires_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A credit is an event for webhooks (`deposit.credited`), in the statement that credits it.
CREATE FUNCTION webhook_deposit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_events (event_id, type, ordering, wallet, body)
    VALUES (
        'evt_' || left(encode(sha256(convert_to(
            'deposit:' || NEW.chain || ':' || NEW.tx_id || ':' || NEW.idx || ':' || NEW.address,
            'UTF8')), 'hex'), 32),
        'deposit.credited',
        NEW.chain || ':' || NEW.address,  -- in order with the wallet's transfers
        NEW.address,
        jsonb_build_object(
            'seq', NEW.seq, 'chain', NEW.chain, 'address', NEW.address,
            'customer', NEW.customer, 'tx_id', NEW.tx_id, 'index', NEW.idx,
            'asset', NEW.asset, 'symbol', NEW.symbol, 'amount', NEW.amount::text,
            'decimals', NEW.decimals, 'block', NEW.block, 'confirmed_at', NEW.confirmed_at)
    )
    ON CONFLICT (event_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER deposits_webhook AFTER INSERT ON deposits
    FOR EACH ROW EXECUTE FUNCTION webhook_deposit();

-- A sweep that ends without moving anything gives its deposits back: the next sweep of the
-- address covers them. Done here so that whichever statement ends the sweep does it.
CREATE FUNCTION sweep_uncover() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'sweep' AND NEW.status IN ('failed', 'rejected', 'cancelled', 'expired')
       AND NEW.status IS DISTINCT FROM OLD.status THEN
        UPDATE deposits SET sweep_id = NULL WHERE sweep_id = NEW.request_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER withdrawals_sweep_uncover AFTER UPDATE OF status ON withdrawals
    FOR EACH ROW EXECUTE FUNCTION sweep_uncover();
