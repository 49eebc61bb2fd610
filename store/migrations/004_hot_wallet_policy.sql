-- Hot-wallet policy: rolling limits per hot wallet and asset, a chain's freeze flag, and a
-- destination allowlist whose new entries take effect only after a cooling-off period.

-- Which hot wallet a reservation draws on (NULL on rows reserved before this migration).
ALTER TABLE ledger_entries ADD COLUMN hot_wallet text;
-- The rolling windows read reservations by hot wallet and by requester, newest first.
CREATE INDEX ledger_hot_window ON ledger_entries (chain, hot_wallet, asset, created_at)
    WHERE kind = 'reserve';

-- One row per chain, written only by the `policy-{chain}` workflow (after it verified an
-- admin's signed statement). Reserving, signing and broadcasting read `frozen` under a share
-- lock, so a freeze waits for those in flight and everything after it sees the flag.
CREATE TABLE chain_policy (
    chain       text PRIMARY KEY,
    frozen      boolean NOT NULL DEFAULT false,
    reason      text,
    changed_by  text,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- Allowed destinations per chain (used only when the worker enables the allowlist). An entry
-- counts from `active_at`: the cooling-off period after it was added.
CREATE TABLE allowlist (
    chain       text NOT NULL,
    address     text NOT NULL,
    added_by    text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    active_at   timestamptz NOT NULL,
    note        text,
    PRIMARY KEY (chain, address)
);
