-- The withdrawal ledger. A reservation holds funds from policy to completion: it is either
-- consumed by a confirmed transfer ('debit') or given back ('release') once nothing can land.
-- One row per (request, kind) makes every step idempotent.

CREATE TABLE ledger_entries (
    id            bigserial PRIMARY KEY,
    request_id    text NOT NULL REFERENCES withdrawals (request_id),
    chain         text NOT NULL,
    asset         text NOT NULL,
    requested_by  text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('reserve', 'release', 'debit')),
    amount        numeric(78, 0) NOT NULL CHECK (amount > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, kind)
);
CREATE INDEX ledger_requester_day ON ledger_entries (requested_by, asset, created_at);

-- A reservation can't be both released and debited.
CREATE UNIQUE INDEX ledger_one_outcome ON ledger_entries (request_id)
    WHERE kind IN ('release', 'debit');
