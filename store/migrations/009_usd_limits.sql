-- USD rolling limits (`USD:AMOUNT` in WITHDRAWAL_DAILY_LIMITS / WITHDRAWAL_HOT_WALLET_LIMITS):
-- each reservation keeps the USD value it was admitted at (NULL: not valued), summed over
-- every asset of the hot wallet, or of the requester, under the limits' advisory locks.
ALTER TABLE ledger_entries ADD COLUMN usd_value numeric;
