-- Trades (`trade-{request_id}`) are money moves under the withdrawal rules, by the same code:
-- they share the withdrawals' rows, signed versions and ledger. A trade sells `asset` from
-- the trading wallet (`to_address`, which receives what is bought) and buys `output_asset`.
ALTER TABLE withdrawals
    ADD COLUMN kind text NOT NULL DEFAULT 'withdrawal' CHECK (kind IN ('withdrawal', 'trade')),
    ADD COLUMN output_asset text,
    ADD CONSTRAINT withdrawals_trade_output CHECK ((kind = 'trade') = (output_asset IS NOT NULL));

-- A confirmed trade's fill: what it bought (the debit is what it sold), read from the chain.
-- One per trade, like every other kind; it never counts against the rolling limits, which
-- sum reservations only.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN ('reserve', 'release', 'debit', 'fill'));
