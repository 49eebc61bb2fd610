"""A `trade buy` with exits: the PositionWorkflow (`position-{request_id}`) makes the buy and
then holds what it bought under the exit rules (take-profit, stop-loss, trailing stop).

Two statements of the requester authorize it: the `trade` statement of the buy (verified by
the buy's TradeWorkflow, as for any trade), and an `exits` statement over the exit rules, the
token and the swap terms (`ExitGrant.params`), a standing order valid for up to
EXITS_LIFETIME. Both must name the same identity. Each exit trade
(`trade-exit-{request_id}-{rule}`) proves it was started by the position workflow and stays
within the statement.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from core.copying import Copied
from core.exits import ExitGrant, ExitRules, Position
from core.intents import MAX_LIFETIME_OF, SignedIntent
from core.models import WithdrawalRequest

EXITS_LIFETIME = MAX_LIFETIME_OF["exits"]


class PositionRequest(BaseModel):
    """The start of `position-{request_id}`."""

    buy: WithdrawalRequest  # the buy, with its `trade` statement
    asset: str  # the token bought: its id (mint), symbol and decimals
    symbol: str
    decimals: int
    rules: ExitRules
    chain: str
    notify_chat: int | None = None
    notify_queue: str
    trade_queue: str  # the chain's task queue, where the buy and the exits run
    intent: SignedIntent | None = None  # the requester's `exits` statement

    def grant(self, parent: str) -> ExitGrant:
        """What every exit trade carries, and what the `exits` statement signs."""
        assert self.buy.swap is not None
        return ExitGrant(
            parent=parent,
            trade=self.buy.request_id,
            chain=self.chain,
            asset=self.asset,
            symbol=self.symbol,
            decimals=self.decimals,
            rules=self.rules,
            slippage_bps=self.buy.swap.slippage_bps,
            priority_fee_lamports=self.buy.swap.priority_fee_lamports,
            intent=self.intent,
        )


class PositionState(BaseModel):
    """Everything continue-as-new carries."""

    request: PositionRequest
    owner: str = ""  # the verified identity
    verified: bool = False
    bought: bool = False  # the buy has ended (filled or not)
    positions: dict[str, Position] = {}  # the one token bought
    watch_version: int = 0
    trades: list[Copied] = []  # the buy and the exits


class PositionStatus(BaseModel):
    workflow_id: str
    owner: str
    state: Literal["buying", "holding", "closed", "stopped", "expired", "refused"]
    reason: str | None = None
    rules: ExitRules
    position: Position | None = None
    trades: list[Copied] = []
