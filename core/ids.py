"""Workflow ids: a stable interface that users, scripts and the Web UI rely on."""


def monitor_id(chain: str, address: str) -> str:
    return f"wallet-{chain}-{address}"


def withdrawal_id(request_id: str) -> str:
    return f"withdrawal-{request_id}"


def trade_id(request_id: str) -> str:
    return f"trade-{request_id}"


def copy_id(follower: str, leader: str) -> str:
    return f"copy-{follower}-{leader}"


def position_id(request_id: str) -> str:
    """`position-{request_id}`: a `trade buy` with exits, holding what it bought."""
    return f"position-{request_id}"


def position_exit_request_id(request_id: str, rule: str) -> str:
    """An exit of a plain trade's position: `trade-exit-{request_id}-{rule}`, at most once."""
    return f"exit-{request_id}-{rule}"


def copied_trade_request_id(follower: str, leader_signature: str) -> str:
    """The request id of a copied trade: `trade-copy-{follower}-{leader_signature}` is its
    workflow id, so one leader trade is copied at most once per follower."""
    return f"copy-{follower}-{leader_signature}"


def watch_id(task_queue: str) -> str:
    """One trigger per chain task queue (so two deployments sharing a namespace don't clash)."""
    return f"watch-{task_queue}"


def push_id(task_queue: str) -> str:
    """One push follower per chain task queue: early detection (subscriptions, head blocks)."""
    return f"push-{task_queue}"


def policy_id(task_queue: str) -> str:
    """The hot-wallet policy workflow (freeze, unfreeze, allowlist) of a chain's task queue:
    `policy-solana`, `policy-tron` with the default (empty) task queue prefix."""
    return f"policy-{task_queue}"


def alert_workflow_id(chat: int, alert_id: str) -> str:
    return f"alert-{chat}-{alert_id}"


def price_watch_id(task_queue: str, provider: str) -> str:
    """One price-watch loop per provider and prices task queue."""
    return f"prices-{task_queue}-{provider}"


def sweep_id(chain: str, address: str, newest: int) -> str:
    """`sweep-{chain}-{address}-{n}`, `n` the sequence number of the newest credited deposit
    it covers: the threshold trigger and the schedule derive the same id, so one batch of
    deposits is swept once (`sweep_request_id`: a later attempt's id)."""
    return f"sweep-{chain}-{address}-{newest}"


def sweep_request_id(chain: str, address: str, newest: int, attempt: int = 1) -> str:
    """The workflow id and ledger key of a sweep's `attempt`: `sweep_id` for the first,
    `…-try2` and on after an attempt ended without moving anything and gave its credits back
    (the ledger keeps every attempt's row). A step's id is this plus `-{step}`."""
    named = sweep_id(chain, address, newest)
    return named if attempt == 1 else f"{named}-try{attempt}"


def sweeps_scope(chain: str) -> str:
    """What a `sweep` statement is about: every sweep of the chain's deposit addresses."""
    return f"sweeps-{chain}"


def deposits_schedule_id(task_queue: str) -> str:
    """The Schedule of a chain's due sweeps and reconciliation: `deposits-solana`."""
    return f"deposits-{task_queue}"


def reconcile_id(task_queue: str) -> str:
    return f"reconcile-{task_queue}"


def deposit_address_id(chain: str, customer: str) -> str:
    return f"deposit-address-{chain}-{customer}"


def webhook_delivery_id(endpoint_id: str) -> str:
    """`webhooks-{endpoint_id}`: one endpoint's delivery loop."""
    return f"webhooks-{endpoint_id}"


# Request ids that copies and positions derive for their own child trades. A plain trade may
# not take one: it would squat the id of an exit (or a copied trade) to come, which Temporal
# would then refuse as a duplicate, and the stop-loss would never sell.
# Sweeps' request ids (`sweep-…`) share the ledger's request ids with withdrawals and trades.
RESERVED_TRADE_PREFIXES = ("copy-", "exit-", "sweep-")


RESERVED_REFUSAL = (
    "request ids starting with copy-, exit- or sweep- belong to copies, positions and sweeps"
)


def reserved_trade_id(request_id: str) -> bool:
    return request_id.startswith(RESERVED_TRADE_PREFIXES)
