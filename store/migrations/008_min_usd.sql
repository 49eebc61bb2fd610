-- `walletflow watch --min-usd`: a chat's filter on a transfer's USD value (NULL: none).
ALTER TABLE subscriptions ADD COLUMN min_usd numeric;
