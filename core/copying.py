"""Copy trading: the follower's standing order (`CopyRules`), the leader's swaps as the monitor
reports them, positions, and the pure decision of what to copy.

A copy is authorized once, by the follower's signed `copy` statement over the rules (valid for
up to COPY_LIFETIME); every copied trade is a child `trade-copy-{follower}-{leader_signature}`
that proves it was started by that copy workflow and stays within those rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, Field

from core.amounts import to_base_units
from core.exits import EXIT_RULE_FIELDS, ExitRules, Position
from core.intents import MAX_LIFETIME_OF, SignedIntent

if TYPE_CHECKING:
    from core.models import WalletEvent

COPY_LIFETIME = MAX_LIFETIME_OF["copy"]  # a standing order outlives a one-off statement
SEEN_LIMIT = 2_000  # leader signatures remembered (continue-as-new carries them)


class CopyRules(ExitRules):
    """What the follower agreed to copy, and the bounds. Amounts are decimal strings of the
    chain's coin (SOL)."""

    sol_per_buy: str | None = "0.1"  # a fixed amount per copied buy ...
    pct_of_leader: str | None = None  # ... or this percentage of the leader's buy
    max_per_buy: str = "1"  # never more than this per buy, whatever the percentage gives
    slippage_bps: int = Field(100, ge=1, le=5000)
    priority_fee_lamports: int = Field(10_000, ge=0)
    allow: list[str] = []  # token mints or symbols; empty: any listed token
    deny: list[str] = []
    # A fraction: the most price impact a copied trade may have (the worker's own cap also
    # applies); it keeps copies out of thin pools, where a buy moves the price most.
    max_price_impact: str = "0.05"
    # The least liquidity a pool must have (SOL on its SOL side), estimated from each quote
    # as the trade's SOL over its price impact (exact for a constant-product pool).
    min_liquidity: str | None = None
    daily_cap: str = "1"  # SOL spent on buys per UTC day
    max_open_positions: int = Field(5, ge=1)
    max_age_seconds: int = Field(120, ge=1)  # skip leader trades older than this
    # Exits of each position (ExitRules): take-profit, stop-loss, trailing stop.

    def params(self) -> dict[str, object]:
        """What the follower's `copy` statement covers. A rule added later is left out while
        unset, so that statements signed before it existed (and running copies) still verify."""
        rules = self.model_dump(mode="json")
        for later in LATER_RULES:
            if rules[later] is None:
                del rules[later]
        return {"rules": rules}


LATER_RULES = ("min_liquidity", *EXIT_RULE_FIELDS)


class CopyRequest(BaseModel):
    """The start of `copy-{follower}-{leader}`."""

    follower: str  # who copies: the signer's identity, also in the workflow id
    leader: str
    chain: str
    rules: CopyRules
    notify_chat: int | None = None
    notify_queue: str
    trade_queue: str  # the chain's task queue, where the copied trades run
    intent: SignedIntent | None = None


class CopyGrant(BaseModel):
    """On a copied trade's request: the copy workflow that started it, and its statement."""

    ACTION: ClassVar[Literal["copy"]] = "copy"

    parent: str  # copy-{follower}-{leader}
    leader: str
    rules: CopyRules
    intent: SignedIntent

    def params(self) -> dict[str, object]:
        return self.rules.params()


class LeaderSwap(BaseModel):
    """A swap the leader made, as its monitor saw it (early at confirmed, or final)."""

    leader: str
    signature: str
    gave_asset: str  # 'SOL' or a mint
    gave_symbol: str
    gave_decimals: int
    gave_amount: int
    got_asset: str
    got_symbol: str
    got_decimals: int
    got_amount: int
    block_time: int | None = None  # unix seconds
    seen_at: float | None = None  # when the monitor saw it (unix seconds, for latency)


class Copied(BaseModel):
    """One leader swap, and what became of it."""

    signature: str  # the leader's swap, or `exit:{rule}:{asset}:{opening}`
    side: Literal["buy", "sell", "skip"]
    reason: str | None = None
    trade_id: str | None = None
    status: str | None = None


class CopyStatus(BaseModel):
    workflow_id: str
    follower: str
    leader: str
    state: Literal["running", "paused", "stopped", "refused"]
    reason: str | None = None
    rules: CopyRules
    positions: list[Position] = []
    spent_today: int = 0  # lamports
    realized_pnl: int = 0  # lamports, over every position
    copied: list[Copied] = []  # the most recent, newest last


class CopyState(BaseModel):
    """Everything continue-as-new carries."""

    request: CopyRequest
    follower: str = ""  # the verified identity
    verified: bool = False
    paused: bool = False
    positions: dict[str, Position] = {}
    seen: list[str] = []  # leader signatures handled, oldest first
    day: str = ""  # the UTC day `spent` counts
    spent: int = 0
    copied: list[Copied] = []
    watch_version: int = 0  # the exit watches' registrations so far


def decide(
    swap: LeaderSwap, state: CopyState, native: str, now: float
) -> tuple[Literal["buy", "sell", "skip"], int, str | None]:
    """(side, lamports to spend on a buy, why it is skipped). A buy spends SOL on the token
    the leader bought; a sell's amount needs the leader's balance after it (`sell_amount`)."""
    rules = state.request.rules
    if swap.block_time is not None and now - swap.block_time > rules.max_age_seconds:
        return "skip", 0, f"older than {rules.max_age_seconds}s"
    if swap.gave_asset == native and swap.got_asset != native:
        token, symbol = swap.got_asset, swap.got_symbol
        if rules.allow and not _named(rules.allow, token, symbol):
            return "skip", 0, f"{symbol} is not on the allow list"
        if _named(rules.deny, token, symbol):
            return "skip", 0, f"{symbol} is on the deny list"
        held = {a for a, p in state.positions.items() if p.amount > 0}
        if token not in held and len(held) >= rules.max_open_positions:
            return "skip", 0, f"{len(held)} positions open, the most allowed"
        amount = buy_amount(rules, swap.gave_amount)
        cap = to_base_units(rules.daily_cap, 9)
        if state.spent + amount > cap:
            return "skip", 0, f"over the daily cap of {rules.daily_cap} SOL"
        return "buy", amount, None
    if swap.got_asset == native and swap.gave_asset != native:
        position = state.positions.get(swap.gave_asset)
        if position is None or position.amount <= 0:
            return "skip", 0, f"no {swap.gave_symbol} position to sell"
        return "sell", 0, None  # the amount needs the leader's balance: see sell_amount
    return "skip", 0, "not a trade against SOL"


def buy_amount(rules: CopyRules, leader_spent: int) -> int:
    """Lamports to spend on a copied buy: fixed, or a percentage of the leader's, capped."""
    cap = to_base_units(rules.max_per_buy, 9)
    if rules.pct_of_leader is not None:
        share = Decimal(leader_spent) * Decimal(rules.pct_of_leader) / 100
        return min(int(share), cap)
    return min(to_base_units(rules.sol_per_buy or "0", 9), cap)


def sell_amount(position: Position, leader_sold: int, leader_left: int) -> int:
    """The same fraction of the follower's position as the leader sold of theirs."""
    before = leader_sold + leader_left
    if before <= 0:
        return 0
    if leader_left <= 0:
        return position.amount  # the leader sold out: so does the follower
    return position.amount * leader_sold // before


def _named(names: list[str], token: str, symbol: str) -> bool:
    """Whether a list names the token: by mint exactly, or by symbol in any case."""
    return token in names or symbol.upper() in {n.upper() for n in names}


def swap_of(event: WalletEvent, seen_at: float) -> LeaderSwap:
    """A monitored wallet's swap (the received side of it, `event.gave` set) for its copiers."""
    gave = event.gave
    assert gave is not None
    return LeaderSwap(
        leader=event.wallet,
        signature=event.tx_id,
        gave_asset=gave.asset,
        gave_symbol=gave.symbol,
        gave_decimals=gave.decimals,
        gave_amount=gave.amount,
        got_asset=event.asset,
        got_symbol=event.symbol,
        got_decimals=event.decimals,
        got_amount=event.amount,
        block_time=event.block_time,
        seen_at=seen_at,
    )


# ---- exits of a copy's positions (core/exits.py has the rules) ----------------------------


def exit_request_id(follower: str, leader: str, asset: str, opened: int, rule: str) -> str:
    """An exit's trade is `trade-exit-{follower}-{leader}-{asset}-{opening}-{rule}`: one per
    copy, rule and opening of the position, so an exit sells at most once whatever the price
    does (and two copies holding one token never share an exit)."""
    return f"exit-{follower}-{leader}-{asset}-{opened}-{rule}"


def legacy_exit_request_id(follower: str, asset: str, opened: int, rule: str) -> str:
    """The id exits had before it named the leader (runs recorded before `EXIT_ID_LEADER`)."""
    return f"exit-{follower}-{asset}-{opened}-{rule}"
