"""The pydantic models that cross workflow and activity boundaries (inputs, outputs, state).

Amounts are integers in base units (lamports, sun, token units) or Decimal strings; never floats.
No model here may carry key material: these values are recorded in workflow history.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.amounts import from_base_units
from core.copying import CopyGrant
from core.exits import ExitGrant
from core.intents import SignedIntent

# A name in the chain registry (`chains.CHAINS`). Entry points check it against the registry,
# so this layer needs no list of chains.
Chain = str


class Button(BaseModel):
    text: str
    callback_data: str  # at most 64 bytes


class WebhookEvent(BaseModel):
    """An event as it enters the webhook outbox (core/webhooks.py): `ordering` is what it keeps
    order within (None: it waits on nothing), `wallet` what endpoints' `--wallet` matches."""

    event_id: str
    type: str
    data: dict[str, Any]
    ordering: str | None = None
    wallet: str | None = None


class Notification(BaseModel):
    """One Telegram message to one chat. `dedupe_key` is unique per chat and event."""

    dedupe_key: str
    chat_id: int
    text: str  # HTML, every user-supplied part already escaped
    buttons: list[list[Button]] = []  # an inline keyboard, row by row
    webhook: WebhookEvent | None = None  # the same event for webhooks (emitted once)


class Conclusion(BaseModel):
    """The end of a two-phase notification: edit the early message (`dedupe_key`) in place to
    `text`, or, when there is no message to edit, send `text` once as a new message."""

    dedupe_key: str
    chat_id: int
    text: str
    outcome: Literal["final", "dropped"]
    event: WalletEvent | None = None  # what is concluded (a dropped one is a webhook event)


class NotificationResult(BaseModel):
    status: Literal["sent", "edited", "unknown", "failed"]
    message_id: int | None = None
    detail: str | None = None


# ---- monitoring -------------------------------------------------------------------------------

Direction = Literal["in", "out"]
DirectionFilter = Literal["in", "out", "both"]


class SwapSide(BaseModel):
    """What a wallet gave in a swap, carried by the event of what it received."""

    asset: str
    symbol: str
    decimals: int
    amount: int  # base units, fees excluded


class UsdQuote(BaseModel):
    """An amount's USD value, from its asset's price at one provider and how old that was."""

    value: str
    price: str
    provider: str
    age_s: int


class WalletEvent(BaseModel):
    """One balance change of a watched wallet in one finalized transaction."""

    chain: Chain
    wallet: str
    tx_id: str
    index: int  # position within the transaction; (chain, tx_id, index, wallet) is unique
    direction: Direction
    asset: str  # 'SOL' / 'TRX', or the token's mint / contract address
    symbol: str
    decimals: int
    amount: int  # base units, > 0
    counterparty: str | None = None
    block: int  # Solana slot, TRON block number
    block_time: int | None = None  # unix seconds
    # A swap is two events, each in the ledger; people see one message, on the received
    # side (`gave` is what was given for it). The given side is marked `in_swap`.
    gave: SwapSide | None = None
    in_swap: bool = False
    usd: UsdQuote | None = None  # what the amount was worth when read; None: no price

    @property
    def key(self) -> str:
        return f"{self.chain}:{self.tx_id}:{self.index}:{self.wallet}"

    @property
    def display_amount(self) -> Decimal:
        return from_base_units(self.amount, self.decimals)


class Subscription(BaseModel):
    """One chat watching one wallet, with its filters."""

    chat_id: int
    label: str | None = None
    min_amount: Decimal | None = None  # display units of the event's asset
    assets: list[str] | None = None  # symbols or asset ids; None: every known asset
    direction: DirectionFilter = "both"
    final_only: bool = False  # one message at finality, no early "pending" one
    # USD value at least this; an event without a price passes (a listed token's transfer
    # is never hidden for want of a price).
    min_usd: Decimal | None = None
    # Ledger and webhooks only, no message: a deposit address without a chat (chat_id 0).
    silent: bool = False

    def wants(self, event: WalletEvent) -> bool:
        if self.silent:
            return False
        if self.direction != "both" and event.direction != self.direction:
            return False
        if self.assets is not None:
            wanted = {a.upper() for a in self.assets}
            if event.symbol.upper() not in wanted and event.asset.upper() not in wanted:
                return False
        if self.min_usd is not None and event.usd and Decimal(event.usd.value) < self.min_usd:
            return False
        return self.min_amount is None or event.display_amount >= self.min_amount


class Unsubscribe(BaseModel):
    chat_id: int


class Poke(BaseModel):
    """From the chain trigger: the wallet changed at or before `block`; look now."""

    block: int


class MonitorCounters(BaseModel):
    fetches: int = 0
    events: int = 0  # final events
    notifications_sent: int = 0
    notifications_unknown: int = 0
    notifications_failed: int = 0
    peeks: int = 0  # early reads (confirmed / head block)
    pending: int = 0  # events announced early, before finality
    finals_edited: int = 0  # early messages edited in place to final
    finals_new: int = 0  # finals sent as a new message (the early one's outcome was unknown)
    dropped: int = 0  # announced early, never finalized


class EarlyEvent(BaseModel):
    """An event announced before finality: the chats told, until it is final or dropped."""

    event: WalletEvent
    chats: list[int] = []


class MonitorState(BaseModel):
    """Everything a monitor carries across continue-as-new."""

    chain: Chain
    address: str
    subscribers: dict[int, Subscription] = {}
    paused: bool = False
    cursor: dict[str, Any] | None = None  # owned by the chain reader; opaque to the workflow
    counters: MonitorCounters = MonitorCounters()
    recent: list[WalletEvent] = []  # the last few events, newest last
    pending_block: int | None = None  # a poke not yet served
    seen_block: int | None = None  # a push (confirmed / head block) not yet served
    early: dict[str, EarlyEvent] = {}  # by event key: announced, not yet final or dropped
    last_seen: datetime | None = None  # when the wallet last had news, early or final
    reconcile_seconds: int = 3600  # re-read the wallet this often without a poke
    notify_queue: str  # the task queue of the notification activities
    history_limit: int = 5_000  # continue as new beyond this many history events
    copiers: list[str] = []  # copy-trading workflows told about this wallet's swaps


class MonitorStatus(BaseModel):
    """Answer of the `status` query."""

    workflow_id: str
    chain: Chain
    address: str
    state: Literal["running", "paused", "stopping"]
    cursor: dict[str, Any] | None
    counters: MonitorCounters
    subscribers: list[Subscription]
    recent: list[WalletEvent]
    last_check: datetime | None = None
    last_seen: datetime | None = None
    pending: list[WalletEvent] = []  # announced early, awaiting finality
    copiers: list[str] = []  # copy workflows told about this wallet's swaps


class WalletRef(BaseModel):
    chain: Chain
    address: str
    subscribers: list[Subscription] = []


class FetchRequest(BaseModel):
    chain: Chain
    address: str
    cursor: dict[str, Any] | None
    min_block: int | None = None  # a poke saw a change at this block


class FetchResult(BaseModel):
    events: list[WalletEvent]
    cursor: dict[str, Any]
    more: bool = False  # a page limit stopped this fetch: call again at once
    final_block: int  # the newest finalized/solidified block the reader saw


class DroppedEvents(BaseModel):
    events: list[WalletEvent]


class WatchState(BaseModel):
    """The per-chain trigger's state: where its scan stands (chain-specific, opaque here)."""

    chain: Chain
    position: dict[str, Any] | None = None
    rounds: int = 0
    round_seconds: int = 600  # how long one watch_chain activity runs before reporting back


class WatchResult(BaseModel):
    position: dict[str, Any] | None
    pokes: int = 0
    rpc_calls: int = 0


class PushState(BaseModel):
    """The per-chain push follower's state (subscriptions or head blocks)."""

    chain: Chain
    rounds: int = 0
    round_seconds: int = 600  # how long one follow_chain activity runs before reporting back


class ShardHealth(BaseModel):
    """One push connection (or head-block follower), as its heartbeat reports it."""

    shard: int
    wallets: int = 0
    subscriptions: int = 0
    connected: bool = False
    connects: int = 0
    notifications: int = 0
    last_event: datetime | None = None
    last_error: str | None = None


class PushResult(BaseModel):
    shards: list[ShardHealth] = []
    signals: int = 0


# ---- withdrawals ------------------------------------------------------------------------------

WithdrawalState = Literal[
    "requested",
    "awaiting_approval",
    "approved",
    "reserved",
    "signed",
    "broadcast",
    "confirmed",
    "failed",
    "rejected",
    "cancelled",
    "expired",
    "manual_review",
]
FINAL_STATES = ("confirmed", "failed", "rejected", "cancelled", "expired")


class SwapOrder(BaseModel):
    """A trade's terms beyond what is sold: what is bought and the bounds the requester set
    (the worker's policy caps them again)."""

    output: str  # a symbol ('SOL', 'USDC') or a token's mint
    slippage_bps: int = 50
    priority_fee_lamports: int = 10_000  # a ceiling, in the chain's base unit


class PreparedSwap(BaseModel):
    """A validated swap: the bought asset as listed, and the bounds every quote must meet."""

    output_id: str
    output_symbol: str
    output_decimals: int
    slippage_bps: int
    max_price_impact: str  # a Decimal fraction, e.g. '0.02'
    priority_fee: int  # base units
    min_depth: int = 0  # a copy's minimum pool liquidity, in base units of the chain's coin


class LeaderBalance(BaseModel):
    """The question of `leader_balance`: how much of `asset` `owner` holds now."""

    chain: Chain
    owner: str
    asset: str  # the chain's coin id, or a token's mint


class Fill(BaseModel):
    """What a confirmed trade really moved, read from the chain's balance deltas."""

    input_id: str
    input_amount: int
    output_id: str
    output_amount: int


class DepositAddressRequest(BaseModel):
    chain: Chain
    customer: str


class DepositAddress(BaseModel):
    chain: Chain
    customer: str
    address: str
    index: int  # the customer's derivation index


SweepStepKind = Literal["activate", "delegate", "topup", "buy", "undelegate"]


class SweepStep(BaseModel):
    """What a deposit address needs before it can send, done from the hot wallet as its own
    money move (`{sweep id}-{kind}`): `activate` and `topup` send `amount` sun of TRX to it,
    `delegate` lends it the energy of `amount` sun of the hot wallet's stake, `buy` sends the
    TRX to burn for that energy instead when the loan did not land, `undelegate` takes the
    loan back once the sweep is decided."""

    kind: SweepStepKind
    amount: int
    # A loan only: the TRX to send instead if it does not land (the stake was lent to other
    # sweeps meanwhile), to burn for the same energy.
    fallback: int = 0


class ReconcileRequest(BaseModel):
    """A reconciliation of a chain's deposit addresses; with `sweep_due`, the sweeps their
    credits make due (thresholds) are started first, catching up what a trigger missed."""

    chain: Chain
    notify_queue: str
    sweep_due: bool = True
    notify_chat: int | None = None  # told when there are differences


class Difference(BaseModel):
    address: str
    customer: str
    symbol: str
    decimals: int
    expected: int  # base units: the credits no confirmed sweep moved
    actual: int  # base units: what the chain holds


class ReconcileReport(BaseModel):
    run_id: str
    chain: Chain
    checked: int
    in_flight: int
    sweeps_started: int = 0
    differences: list[Difference] = []


class SweepOrder(BaseModel):
    """Which credits a sweep covers: the deposit address's uncovered credits of the asset,
    up to and including sequence number `newest`. `step`: this move is one of the sweep's
    steps, not the sweep itself."""

    address: str
    newest: int
    attempt: int = Field(1, ge=1)  # 2 and on: earlier attempts gave these credits back
    step: SweepStep | None = None


class SweepSource(BaseModel):
    """Where a prepared sweep takes from: the deposit address, and the customer index its key
    derives from (in the signing activity only). `close`: Solana, close the emptied token
    account and return its rent to the hot wallet."""

    address: str
    customer: str
    index: int
    newest: int
    close: bool = False
    steps: list[SweepStep] = []  # what the address needs first (TRON: activation, energy)
    step: SweepStep | None = None  # this move is that step


class WithdrawalRequest(BaseModel):
    """What a person asked for. Validated by `prepare`; never carries key material. The
    `intent` is the requester's signed `withdraw` statement over `withdraw_params()`."""

    request_id: str
    chain: Chain
    asset: str  # a symbol ('SOL', 'USDT') or a listed token's address
    to: str
    amount: str  # display units as a decimal string, e.g. '12.5'
    requested_by: str  # e.g. 'tg:123456' or 'cli:alice'
    notify_chat: int | None = None  # the requester's chat, told about the outcome
    approver_chats: list[int] = []  # get the approval request with buttons
    notify_queue: str  # the task queue of the notification activities
    approval_timeout_seconds: int = 24 * 3600
    # Read only by workflows started before signed intents: the bound now comes from the
    # worker's configuration (PreparedWithdrawal.max_versions), never from a request.
    max_versions: int = 3
    intent: SignedIntent | None = None
    # A trade (`trade-{request_id}`): `asset` and `amount` are what is sold, `to` is the
    # trading wallet that receives what is bought. None: a withdrawal.
    swap: SwapOrder | None = None
    # A copied trade: the copy workflow that started it, whose `copy` statement stands in
    # for a `trade` statement (see TradeWorkflow).
    copied_by: CopyGrant | None = None
    # An exit of a plain trade's position: the PositionWorkflow that started it, whose
    # requester's `exits` statement stands in for a `trade` statement.
    exit_of: ExitGrant | None = None
    # A sweep (`sweep-{chain}-{address}-{n}`): `asset` is swept from the deposit address to
    # the hot wallet; `to` and `amount` are ignored (the ledger decides what moves). Its
    # `intent` is a `sweep` statement about the chain (core.ids.sweeps_scope).
    sweep: SweepOrder | None = None

    def withdraw_params(self) -> dict[str, object]:
        """What the requester's signature covers (a trade's: the swap's terms too)."""
        params: dict[str, object] = {
            "request_id": self.request_id,
            "chain": self.chain,
            "asset": self.asset,
            "to": self.to,
            "amount": self.amount,
        }
        if self.swap is not None:
            params["swap"] = self.swap.model_dump()
        return params


class Actor(BaseModel):
    """Argument of approve / reject / cancel / resolve: who, and optionally why."""

    by: str = "unknown"
    reason: str | None = None


class Resolution(Actor):
    """An operator's decision on a withdrawal in manual_review."""

    action: Literal["recheck", "release", "settle"] = "recheck"
    tx_id: str | None = None  # with settle: the transaction that landed


class PreparedWithdrawal(BaseModel):
    """The validated request: canonical address, base units, the asset as listed."""

    asset_id: str
    symbol: str
    decimals: int
    program: str | None = None
    to: str
    amount: int  # base units
    hot_wallet: str
    approval_required: bool
    approval_reason: str | None = None
    approvals_required: int = 1  # distinct approvers, when approval_required (M of N)
    max_versions: int = 3  # signed versions before giving up: the worker's bound
    # Published as the WalletflowAddress search attribute, which Temporal stores in clear:
    # off when payloads are encrypted, so the destination stays inside them.
    searchable_destination: bool = True
    swap: PreparedSwap | None = None  # a trade
    sweep: SweepSource | None = None  # a sweep: `hot_wallet` is the deposit address swept
    usd: UsdQuote | None = None  # what `amount` was worth when prepared, for people (no policy)
    # What counts against the USD rolling limits: the confirmed value, or (a move its
    # approvers let through unconfirmed) the value they were shown; None: not valued.
    usd_value: str | None = None

    @property
    def kind(self) -> str:
        """The ledger's kind of money move."""
        return "sweep" if self.sweep else "trade" if self.swap else "withdrawal"


class SignRequest(BaseModel):
    request_id: str
    chain: Chain
    version: int
    prepared: PreparedWithdrawal


class SignedVersion(BaseModel):
    """One signed transaction, persisted before its first broadcast. `raw` is the exact bytes
    (base64) every broadcast re-sends; `expiry` is the chain's bound after which it can't land
    (Solana lastValidBlockHeight, TRON expiration in ms)."""

    request_id: str
    chain: Chain
    version: int
    tx_id: str
    raw: str
    expiry: int


class SendOutcome(BaseModel):
    result: Literal["confirmed", "failed", "expired"]
    detail: str | None = None
    block: int | None = None
    fee: int | None = None


class VersionInfo(BaseModel):
    version: int
    tx_id: str
    expiry: int
    state: Literal["signed", "broadcast", "confirmed", "failed", "expired"]


class LedgerChange(BaseModel):
    """A status change, with what it does to the reservation (None: nothing)."""

    request_id: str
    chain: Chain
    kind: Literal["release", "debit"] | None = None
    status: WithdrawalState
    reason: str | None = None
    tx_id: str | None = None
    version: int | None = None  # with "broadcast": the signed version about to go out
    fill: Fill | None = None  # with a confirmed trade: what it moved


class WithdrawalStatus(BaseModel):
    """Answer of the `status` query, and the workflow's result."""

    request_id: str
    chain: Chain
    asset: str
    to: str
    amount: str
    requested_by: str
    status: WithdrawalState
    reason: str | None = None
    hot_wallet: str | None = None
    approved_by: list[str] = []
    approvals_required: int = 0  # distinct approvers this withdrawal needs
    refused: list[str] = []  # signals refused, e.g. a self-approval or a late cancel
    versions: list[VersionInfo] = []
    tx_id: str | None = None
    output: str | None = None  # a trade: the asset bought
    fill: Fill | None = None  # a confirmed trade: what it moved


# ---- authority --------------------------------------------------------------------------------


class Decision(BaseModel):
    """The argument of the `approve`, `reject`, `cancel` and `resolve` updates: the signed
    statement, and what it covers (`params()`, hashed into the statement)."""

    intent: SignedIntent
    reason: str | None = None
    action: Literal["recheck", "release", "settle"] | None = None  # resolve only
    tx_id: str | None = None  # resolve with settle: the transaction that landed

    def params(self) -> dict[str, object]:
        return decision_params(self.reason, self.action, self.tx_id)


def decision_params(
    reason: str | None = None, action: str | None = None, tx_id: str | None = None
) -> dict[str, object]:
    """What a decision's signature covers besides its action and workflow."""
    return {"reason": reason, "action": action, "tx_id": tx_id}


class DecisionOutcome(BaseModel):
    """What the caller of a decision learns: accepted, or refused with the reason."""

    outcome: Literal["accepted", "refused"]
    reason: str | None = None


class AuditEntry(BaseModel):
    """One line of the append-only audit log."""

    actor: str  # who acted: a principal, a user a service principal signed for, or 'workflow'
    action: str
    subject: str  # e.g. 'withdrawal:<request id>', 'principal:<id>'
    outcome: Literal["accepted", "refused", "changed"] | None = None
    principal: str | None = None  # the key that signed, when a statement was involved
    reason: str | None = None
    key: str | None = None  # makes a retried write of the same entry a no-op
    details: dict[str, Any] = {}


# ---- hot-wallet policy (the `policy-{chain}` workflow) ---------------------------------------

PolicyAction = Literal["freeze", "unfreeze", "allow", "disallow"]


class PolicyChange(BaseModel):
    """The argument of the `freeze`, `unfreeze`, `allow` and `disallow` updates of
    `policy-{chain}`: an admin's signed statement, and what it covers (`params()`)."""

    intent: SignedIntent
    reason: str | None = None
    address: str | None = None  # allow / disallow: the destination, canonical

    def params(self) -> dict[str, object]:
        return policy_params(self.reason, self.address)


def policy_params(reason: str | None = None, address: str | None = None) -> dict[str, object]:
    """What a policy change's signature covers besides its action and chain."""
    return {"reason": reason, "address": address}


class PolicyWrite(BaseModel):
    """A verified policy change, as the workflow hands it to the activity that writes it."""

    chain: Chain
    action: PolicyAction
    address: str | None = None
    reason: str | None = None
    audit: AuditEntry


class ChainPolicy(BaseModel):
    """A chain's freeze flag, as Postgres holds it."""

    chain: Chain
    frozen: bool
    reason: str | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None


class AllowlistEntry(BaseModel):
    chain: Chain
    address: str
    added_by: str
    added_at: datetime
    active_at: datetime  # the end of its cooling-off period: allowed from then on
    note: str | None = None
    active: bool


class PolicyOutcome(DecisionOutcome):
    """A policy change's answer: `changed` is False when it already was so (no-op);
    `active_at` says when an allowlist entry starts to count."""

    changed: bool = False
    active_at: datetime | None = None


class PolicyState(BaseModel):
    """What `policy-{chain}` carries across continue-as-new."""

    chain: Chain
    frozen: bool = False
    nonces: dict[str, int] = {}  # statements used, with their expiry (dropped once expired)
