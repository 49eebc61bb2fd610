-- The first schema. Amounts are NUMERIC integer base units (lamports, sun, token units):
-- exact, and wide enough for any uint256 token.

CREATE TABLE wallets (
    chain       text NOT NULL CHECK (chain IN ('solana', 'tron')),
    address     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, address)
);

-- Who watches a wallet, and what they want to hear about.
CREATE TABLE subscriptions (
    chain       text NOT NULL,
    address     text NOT NULL,
    chat_id     bigint NOT NULL,
    label       text,
    min_amount  numeric CHECK (min_amount >= 0),  -- in display units of the asset
    assets      text[],                           -- NULL: every asset
    direction   text NOT NULL DEFAULT 'both' CHECK (direction IN ('in', 'out', 'both')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, address, chat_id),
    FOREIGN KEY (chain, address) REFERENCES wallets (chain, address) ON DELETE CASCADE
);

-- The accounts the cheap per-chain trigger checks for each wallet (Solana: the wallet and its
-- token accounts, existing or derived). `fingerprint` is the state seen at the last sweep.
CREATE TABLE watch_keys (
    chain        text NOT NULL,
    key          text NOT NULL,
    wallet       text NOT NULL,
    fingerprint  text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, key),
    FOREIGN KEY (chain, wallet) REFERENCES wallets (chain, address) ON DELETE CASCADE
);
CREATE INDEX watch_keys_wallet ON watch_keys (chain, wallet);

-- Every balance change detected on a watched wallet. The unique key makes the write
-- idempotent, so a retried activity or a replayed page never records an event twice.
CREATE TABLE wallet_events (
    id            bigserial PRIMARY KEY,
    chain         text NOT NULL,
    tx_id         text NOT NULL,
    idx           integer NOT NULL,
    wallet        text NOT NULL,
    direction     text NOT NULL CHECK (direction IN ('in', 'out')),
    asset         text NOT NULL,          -- 'SOL', 'TRX', a mint or a contract address
    symbol        text NOT NULL,
    decimals      integer NOT NULL CHECK (decimals >= 0),
    amount        numeric(78, 0) NOT NULL CHECK (amount > 0),
    counterparty  text,
    block         bigint NOT NULL,        -- Solana slot, TRON block number
    block_time    timestamptz,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chain, tx_id, idx, wallet)
);
CREATE INDEX wallet_events_wallet ON wallet_events (chain, wallet, block DESC);

CREATE TABLE withdrawals (
    request_id    text PRIMARY KEY,
    chain         text NOT NULL CHECK (chain IN ('solana', 'tron')),
    asset         text NOT NULL,
    to_address    text NOT NULL,
    amount        numeric(78, 0) NOT NULL CHECK (amount > 0),
    decimals      integer NOT NULL CHECK (decimals >= 0),
    requested_by  text NOT NULL,
    status        text NOT NULL,
    status_reason text,
    approved_by   text,
    tx_id         text,                   -- the version that landed
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX withdrawals_requester_day ON withdrawals (requested_by, created_at);
CREATE INDEX withdrawals_status ON withdrawals (status);

-- Every signed version of a withdrawal, persisted before its first broadcast. Broadcasts only
-- ever re-send `signed_tx`; a new version exists only after all earlier ones are proven dead.
CREATE TABLE withdrawal_versions (
    request_id   text NOT NULL REFERENCES withdrawals (request_id),
    version      integer NOT NULL CHECK (version >= 1),
    tx_id        text NOT NULL UNIQUE,
    signed_tx    bytea NOT NULL,
    expiry       bigint NOT NULL,         -- Solana lastValidBlockHeight, TRON expiration (ms)
    status       text NOT NULL DEFAULT 'signed',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, version)
);

-- One row per message we intend to send; the dedupe key (chat + event) makes a retried
-- notification activity a no-op once the message went out. `sending` marks a request in
-- flight: finding it on a retry means the previous attempt died mid-request, and since
-- sendMessage is not idempotent that notification becomes `unknown` rather than a duplicate.
CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    dedupe_key  text NOT NULL UNIQUE,
    chat_id     bigint NOT NULL,
    text        text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    message_id  bigint,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX notifications_chat ON notifications (chat_id, created_at);

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    subject  text NOT NULL,
    details  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject ON audit_log (subject, at);
