"""Exits of a position (take-profit, stop-loss, trailing stop) as pure rules, shared by copy
trading (a copy's positions) and a plain `trade buy` with exits (PositionWorkflow).

A position's exits are price watches (core/alerts.AlertWatch) of the workflow that holds it,
`{workflow_id}#{asset}#{rule}`: met, the price-watch loop signals the workflow, which sells
once per rule and opening of the position. A trailing stop also watches `peak`, the next step
above the highest price seen, and each new high moves the stop up.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel

from core.intents import SignedIntent

ExitRule = Literal["tp", "sl", "trail"]
PEAK = "peak"
# The trailing stop follows the highest price in steps of a quarter of its distance, at most
# 1%: each step is one signal and one registration, so a rising token costs a few dozen of
# them, not one per poll; the stop is at most one step lower than a continuous trail.
TRAIL_STEP_MAX_PCT = Decimal(1)
# Fields added to signed rules after statements over them existed: left out while unset.
EXIT_RULE_FIELDS = ("take_profit_pct", "take_profit_sell_pct", "stop_loss_pct", "trailing_stop_pct")


class ExitRules(BaseModel):
    """Exits of each position, on its USD price (percentages): at +take_profit_pct over the
    entry sell take_profit_sell_pct of it (all when unset), at -stop_loss_pct under the entry
    sell all, and at trailing_stop_pct under the highest price seen since it was bought sell
    all. Each fires at most once per opening of the position."""

    take_profit_pct: str | None = None
    take_profit_sell_pct: str | None = None
    stop_loss_pct: str | None = None
    trailing_stop_pct: str | None = None

    @property
    def exit_rules(self) -> list[ExitRule]:
        """The exit rules set: `tp`, `sl`, `trail`."""
        found: list[ExitRule] = []
        if self.take_profit_pct is not None:
            found.append("tp")
        if self.stop_loss_pct is not None:
            found.append("sl")
        if self.trailing_stop_pct is not None:
            found.append("trail")
        return found

    @property
    def watched(self) -> list[str]:
        """The price watches a position keeps: its exits, and with a trailing stop `peak`, the
        next step up of the highest price, which raises the stop."""
        return [*self.exit_rules, *([PEAK] if self.trailing_stop_pct is not None else [])]

    def exits_only(self) -> ExitRules:
        return ExitRules.model_validate(self.model_dump(include=set(EXIT_RULE_FIELDS)))


class Position(BaseModel):
    """What is held of one token, bought by copying or by a trade with exits, and its cost."""

    asset: str
    symbol: str
    decimals: int
    amount: int = 0
    cost: int = 0  # lamports spent on what is still held
    realized: int = 0  # lamports received minus the cost of what was sold
    # Exits: the USD price it was bought at (averaged over buys), the highest price seen
    # since (a trailing stop), how many times it has been opened (from nothing), and the
    # exits fired in this opening.
    entry_usd: str | None = None
    peak_usd: str | None = None
    opened: int = 0
    exits: list[str] = []


class ExitGrant(BaseModel):
    """On an exit trade of a plain trade's position: the PositionWorkflow that started it, and
    the requester's `exits` statement over what it may sell and how (see TradeWorkflow)."""

    ACTION: ClassVar[Literal["exits"]] = "exits"

    parent: str  # position-{request_id}
    trade: str  # the buy's request id
    chain: str
    asset: str  # the token bought (its id), the only one an exit sells
    symbol: str
    decimals: int
    rules: ExitRules
    slippage_bps: int
    priority_fee_lamports: int
    intent: SignedIntent | None = None

    def params(self) -> dict[str, object]:
        """What the requester's `exits` statement covers."""
        return {
            "trade": self.trade,
            "chain": self.chain,
            "asset": self.asset,
            "symbol": self.symbol,
            "decimals": self.decimals,
            "rules": self.rules.model_dump(mode="json"),
            "slippage_bps": self.slippage_bps,
            "priority_fee_lamports": self.priority_fee_lamports,
        }


def exit_watch_id(workflow_id: str, asset: str, rule: str) -> str:
    return f"{workflow_id}#{asset}#{rule}"


def exit_level(
    position: Position, rules: ExitRules, rule: str
) -> tuple[Literal["ge", "le"], Decimal]:
    """The price that meets `rule`'s watch for this position: entry x (1 + tp%), entry x
    (1 - sl%), peak x (1 - trail%), and for `peak` the next step up, peak x (1 + step%)."""
    assert position.entry_usd is not None
    entry = Decimal(position.entry_usd)
    peak = Decimal(position.peak_usd or position.entry_usd)
    if rule == "tp":
        return "ge", entry * (1 + Decimal(rules.take_profit_pct or "0") / 100)
    if rule == "sl":
        return "le", entry * (1 - Decimal(rules.stop_loss_pct or "0") / 100)
    trail = Decimal(rules.trailing_stop_pct or "0")
    if rule == "trail":
        return "le", peak * (1 - trail / 100)
    return "ge", peak * (1 + min(TRAIL_STEP_MAX_PCT, trail / 4) / 100)


def exit_amount(position: Position, rules: ExitRules, rule: str) -> int:
    """What an exit sells: a take-profit its share of the position, a stop (loss or trailing)
    all of it."""
    if rule == "tp" and rules.take_profit_sell_pct is not None:
        return position.amount * int(Decimal(rules.take_profit_sell_pct) * 100) // 10_000
    return position.amount


def entry_after_buy(position: Position, added: int, price: Decimal) -> str:
    """The position's entry price once `added` (already in `position.amount`) was bought at
    `price`: the amount-weighted average with what it held before."""
    held = position.amount - added
    if position.entry_usd is None or held <= 0:
        return str(price)
    total = Decimal(position.entry_usd) * held + price * added
    return str(total / position.amount)


def raised_peak(position: Position, price: Decimal) -> str:
    """The highest price seen: the peak so far, or `price` if higher (a first price sets it)."""
    if position.peak_usd is None or price > Decimal(position.peak_usd):
        return str(price)
    return position.peak_usd
