"""Activity type names: the contract between the workflows that schedule activities and the
activity classes that implement them. Workflows name activities by these strings, so they
never import activity code; the names are recorded in history and must not change."""

# Monitoring (on the chain's task queue).
START_WATCHING = "start_watching"
SAVE_SUBSCRIPTIONS = "save_subscriptions"
FETCH_EVENTS = "fetch_events"
PEEK_EVENTS = "peek_events"  # early (confirmed / head block) events: announced, not ledgered
FORGET_WALLET = "forget_wallet"
EMIT_DROPPED = "emit_dropped"  # early events that never became final, for webhooks
WATCH_CHAIN = "watch_chain"
FOLLOW_CHAIN = "follow_chain"  # push: subscriptions (Solana) or head blocks (TRON)

# Withdrawals (on the chain's task queue).
PREPARE_WITHDRAWAL = "prepare_withdrawal"
RESERVE_WITHDRAWAL = "reserve_withdrawal"
SIGN_WITHDRAWAL = "sign_withdrawal"
SEND_AND_CONFIRM = "send_and_confirm"
PROVE_DEAD = "prove_dead"  # a signed version never broadcast: wait until it cannot land
RECORD_WITHDRAWAL = "record_withdrawal"

# Trades (on the chain's task queue): a withdrawal whose transaction is a swap. They share
# reserve, send_and_confirm, prove_dead and record with withdrawals.
PREPARE_TRADE = "prepare_trade"
PREPARE_SWEEP = "prepare_sweep"  # the ledger's uncovered credits, claimed for one sweep
SIGN_SWEEP = "sign_sweep"  # signed by the deposit address's derived key (and the fee payer)
ASSIGN_DEPOSIT_ADDRESS = "assign_deposit_address"
RECONCILE_DEPOSITS = "reconcile_deposits"  # deposit addresses' ledger against their chain
START_DUE_SWEEPS = "start_due_sweeps"
SIGN_TRADE = "sign_trade"  # a fresh quote, the venue's swap transaction, the wallet's signature
TRADE_FILL = "trade_fill"  # what a confirmed trade moved, from the chain's balance deltas
LEADER_BALANCE = "leader_balance"  # copy trading: what a leader holds of a token, at confirmed

# Notifications (on the notify task queue).
SEND_NOTIFICATION = "send_notification"
CONCLUDE_NOTIFICATION = "conclude_notification"  # edit an early message to final / dropped

# Authority (local activities of the workflow that asks).
LOAD_ROSTER = "load_roster"
AUDIT = "audit"

# Hot-wallet policy (local activity of `policy-{chain}`, on the chain's task queue).
SET_POLICY = "set_policy"

# Price alerts (on the prices task queue): the alert workflow's row and slow reconcile (local
# activities), and each provider's price-watch loop.
REGISTER_ALERT = "register_alert"
REFRESH_ALERT = "refresh_alert"  # register again, and read the price (the slow reconcile)
FORGET_ALERT = "forget_alert"
WATCH_PRICES = "watch_prices"
# Take-profit / stop-loss of copy positions (local activities of the copy workflow).
REGISTER_WATCHES = "register_watches"
USD_PRICE = "usd_price"
# Webhooks: one endpoint's delivery loop (a long activity on the notify queue).
DELIVER_WEBHOOKS = "deliver_webhooks"
