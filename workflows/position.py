"""PositionWorkflow: a `trade buy` with exits, `position-{request_id}`.

The rules, in order:
1. Authority first: the requester's `exits` statement over the exit rules, the token and the
   swap terms, and the buy's own `trade` statement, both valid now against the roster and by
   the same identity (no one can wrap another's buy in exits of their own). No valid pair,
   nothing is bought.
2. The buy is a child `trade-{request_id}`: a TradeWorkflow that verifies its `trade`
   statement itself, under every withdrawal and trade rule.
3. What it bought is held under the exits (workflows/exits.py): each exit sells once, as the
   child `trade-exit-{request_id}-{rule}`, which proves it was started here and stays within
   the `exits` statement (TradeWorkflow).
4. It ends when nothing is left to do: the buy did not fill, the position is sold, or every
   exit has fired; or when the `exits` statement expires (a trade under it would be refused).
   Stopped: the exits are dropped and the tokens stay in the trading wallet.
5. A held position whose entry price could not be read (no fresh price) reads it again every
   minute: until then it has no exit levels.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core import search_attributes as sa
    from core.alerts import PriceTick
    from core.amounts import from_base_units, plain
    from core.copying import Copied
    from core.exits import Position
    from core.ids import position_exit_request_id, trade_id
    from core.intents import Roster, verify
    from core.models import SwapOrder, WithdrawalRequest, WithdrawalStatus
    from core.positions import PositionState, PositionStatus
    from workflows.exits import PositionHolder
    from workflows.steps import audit_start, local

RUN_LIMIT = 2_000  # history events before continuing as new
ENTRY_RETRY = timedelta(minutes=1)  # a held position's entry price, read again this often


@workflow.defn(name="PositionWorkflow")
class PositionWorkflow(PositionHolder):
    s: PositionState

    @workflow.init
    def __init__(self, state: PositionState) -> None:
        self.s = state
        self.stopped = False
        self.expired = False
        self.refusal: str | None = None
        self.trading: set[str] = set()
        self.exit_ticks: list[PriceTick] = []

    @workflow.run
    async def run(self, state: PositionState) -> PositionStatus:
        if not self.s.verified:
            self.refusal = await self._check_statements()
            if self.refusal is not None:
                return self.status()
            self.s.verified = True
            self._publish()
            await self._buy()
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.exit_ticks) or self.stopped or self._done(),
                    timeout=self._until_next_check(),
                )
            except TimeoutError:
                if await self._expired_or_unpriced():
                    break
                continue
            if self.stopped or self._done():
                break
            await self._exit(self.exit_ticks.pop(0))
            idle = not self.exit_ticks and not self.trading and not self.settling
            if workflow.info().get_current_history_length() > RUN_LIMIT and idle:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.s)
        await workflow.wait_condition(lambda: not self.trading and not self.settling)
        await local(act.FORGET_ALERT, type(None), self._id)  # its watches, whatever is left
        self._publish()
        return self.status()

    async def _buy(self) -> None:
        req = self.s.request

        async def settled(trade_id: str, result: WithdrawalStatus | None) -> None:
            added = self._settle(req.asset, req.symbol, req.decimals, "buy", trade_id, result)
            if added and result is not None and result.fill is not None:
                await self._after_fill(result.fill.output_id, added)
            self.s.bought = True

        await self._trade("buy", "buy", req.buy, settled)
        if "buy" not in self.trading:  # its id was taken: this position holds nothing
            self.s.bought = True

    def _until_next_check(self) -> timedelta:
        """Until the `exits` statement expires, or a minute while a held position has no
        entry price yet (its first read found no fresh price: read it again)."""
        assert self.s.request.intent is not None
        expires = datetime.fromtimestamp(self.s.request.intent.intent.expires_at, UTC)
        left = max(timedelta(seconds=1), expires - workflow.now())
        position = self._position()
        unpriced = (
            self.s.bought and not self.trading and position is not None
            and position.amount > 0 and position.entry_usd is None
        )  # fmt: skip
        return min(left, ENTRY_RETRY) if unpriced else left

    async def _expired_or_unpriced(self) -> bool:
        """At the statement's expiry the exits end (a trade under an expired statement would
        be refused, and counted as fired); before it, a held position without an entry price
        reads it again. Whether the position ends."""
        assert self.s.request.intent is not None
        if workflow.now().timestamp() >= self.s.request.intent.intent.expires_at:
            self.expired = True
            return True
        position = self._position()
        if position is not None and position.amount > 0 and position.entry_usd is None:
            await self._after_fill(position.asset, position.amount)
        return False

    def _done(self) -> bool:
        """Nothing more can happen: bought (or not), nothing in flight, and no exit left."""
        if not self.s.bought or self.trading or self.settling:
            return False
        position = self._position()
        return position is None or position.amount <= 0 or not self._pending(position)

    def _position(self) -> Position | None:
        return next(iter(self.s.positions.values()), None)

    # ---- authority ------------------------------------------------------------------------

    async def _check_statements(self) -> str | None:
        """The `exits` statement and the buy's `trade` statement, by one identity; audited."""
        req = self.s.request
        roster = await local(act.LOAD_ROSTER, Roster)
        now = int(workflow.now().timestamp())
        refusal: str | None = "no signed exits statement"
        if req.buy.swap is None or req.buy.copied_by or req.buy.exit_of:
            refusal = "the position's buy must be a plain trade"
        elif req.intent is not None:
            exits = verify(req.intent, roster, action="exits", workflow_id=self._id,
                           params=req.grant(self._id).params(), now=now)  # fmt: skip
            refusal = exits.reason
            if exits.ok and req.buy.intent is None:
                refusal = "the buy has no signed trade statement"
            elif exits.ok and req.buy.intent is not None:
                buy = verify(req.buy.intent, roster, action="trade",
                             workflow_id=trade_id(req.buy.request_id),
                             params=req.buy.withdraw_params(), now=now)  # fmt: skip
                refusal = buy.reason and f"the buy: {buy.reason}"
                if buy.ok and buy.identity != exits.identity:
                    refusal = "the exits and the buy are signed by different identities"
                if refusal is None and exits.identity is not None:
                    self.s.owner = exits.identity
        await audit_start("exits", "position", req.intent, refusal)
        return refusal

    # ---- the holder's parts ---------------------------------------------------------------

    def _exit_request(self, position: Position, rule: str, amount: int) -> WithdrawalRequest:
        req = self.s.request
        swap = req.buy.swap
        assert swap is not None
        return WithdrawalRequest(
            request_id=position_exit_request_id(req.buy.request_id, rule),
            chain=req.chain,
            asset=position.symbol,
            to="",
            amount=plain(from_base_units(amount, position.decimals)),
            requested_by=self.s.owner,
            notify_queue=req.notify_queue,
            approval_timeout_seconds=req.buy.approval_timeout_seconds,
            swap=SwapOrder(
                output=chains.get(req.chain).NATIVE.symbol,
                slippage_bps=swap.slippage_bps,
                priority_fee_lamports=swap.priority_fee_lamports,
            ),
            exit_of=req.grant(self._id),
        )

    def _log(self) -> list[Copied]:
        return self.s.trades

    # ---- signals and the query ------------------------------------------------------------

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True

    @workflow.query
    def status(self) -> PositionStatus:
        position = self._position()
        state = (
            "refused"
            if self.refusal
            else "expired"
            if self.expired
            else "stopped"
            if self.stopped
            else "buying"
            if not self.s.bought
            else "closed"
            if self._done()
            else "holding"
        )
        return PositionStatus(
            workflow_id=self._id,
            owner=self.s.owner,
            state=state,
            reason=self.refusal,
            rules=self.s.request.rules,
            position=position,
            trades=self.s.trades,
        )

    def _publish(self) -> None:
        workflow.upsert_search_attributes(
            [
                sa.CHAIN.value_set(self.s.request.chain),
                sa.TOKEN.value_set(self.s.request.symbol),
                sa.REQUESTED_BY.value_set(self.s.owner),
                sa.STATUS.value_set(self.status().state),
            ]
        )
