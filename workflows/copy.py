"""CopyTradeWorkflow: one durable workflow per follower and leader, `copy-{follower}-{leader}`.

The rules, in order:
1. Authority first: the follower's signed `copy` statement over the rules, verified against
   the roster; no valid statement, no copying. Every copied trade proves again that it was
   started by this workflow and is within these rules (TradeWorkflow), and a revoked follower
   stops counting there, at the next trade.
2. The leader's swaps come from the leader's monitor (`wallet-{chain}-{leader}`), early at
   confirmed or final, so its cursor makes sure none is missed; each is copied at most once:
   the copied trade's id is `trade-copy-{follower}-{leader_signature}`, and a repeat of it is
   refused by Temporal (and remembered here).
3. What is copied follows the rules (core/copying.decide): fixed SOL or a share of the
   leader's buy, capped; the same fraction of the position on a leader's sell; allow and deny
   lists; open positions and a daily cap; leader trades older than a cutoff are skipped.
4. Take-profit, stop-loss and trailing stop (when the rules set them; workflows/exits.py,
   shared with PositionWorkflow): a bought position's
   entry USD price is read once it fills, and its exits are registered as price watches; the
   price-watch loop signals `price` when one is met. A trailing stop also watches the next
   step above the highest price seen (`peak`), and each new high moves the stop up. Each exit
   fires once per opening of the position (remembered before its trade starts) as
   `trade-exit-{follower}-{leader}-{asset}-{opening}-{rule}`, a child under the same `copy`
   statement: a price crossing back and forth sells once.
5. Paused: swaps are remembered and skipped. Stopped: the leader's monitor is told, the
   exits are dropped, and the workflow ends with its positions reported.
6. Continue-as-new carries positions, the day's spend and the signatures already handled.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core import search_attributes as sa
    from core import texts
    from core.alerts import PriceTick
    from core.amounts import from_base_units, plain
    from core.copying import (
        SEEN_LIMIT,
        Copied,
        CopyGrant,
        CopyState,
        CopyStatus,
        LeaderSwap,
        decide,
        exit_request_id,
        legacy_exit_request_id,
        sell_amount,
    )
    from core.exits import Position
    from core.ids import copied_trade_request_id, monitor_id
    from core.intents import Roster, verify
    from core.models import (
        LeaderBalance,
        Notification,
        SwapOrder,
        WithdrawalRequest,
        WithdrawalStatus,
    )
    from workflows.exits import KEEP_TRADES, PositionHolder
    from workflows.steps import audit_start, local

# Exit trades name the leader: without it, two copies of one follower holding the same token
# shared exit ids, and the second copy's exit was refused as a duplicate.
EXIT_ID_LEADER = "exit-id-with-leader"
SETTLED_FIRST = "settled-before-end"
RUN_LIMIT = 2_000  # history events before continuing as new


@workflow.defn(name="CopyTradeWorkflow")
class CopyTradeWorkflow(PositionHolder):
    s: CopyState

    @workflow.init
    def __init__(self, state: CopyState) -> None:
        self.s = state
        self.inbox: list[LeaderSwap] = []
        self.stopped = False
        self.refusal: str | None = None
        self.trading: set[str] = set()  # leader signatures (or exits) whose trade is in flight
        self.exit_ticks: list[PriceTick] = []

    @workflow.run
    async def run(self, state: CopyState) -> CopyStatus:
        if not self.s.verified:
            self.refusal = await self._check_statement()
            if self.refusal is not None:
                return self.status()
            self.s.verified = True
            await self._leader().signal("add_copier", workflow.info().workflow_id)
        self._publish()
        while True:
            await workflow.wait_condition(
                lambda: bool(self.inbox) or bool(self.exit_ticks) or self.stopped
            )
            if self.stopped:
                break
            if self.exit_ticks:
                await self._exit(self.exit_ticks.pop(0))
                continue
            swap = self.inbox.pop(0)
            if swap.signature in self.s.seen:
                continue  # the early and the final report of one swap, or a replay
            self._remember(swap.signature)
            if self.s.paused:
                self._record(Copied(signature=swap.signature, side="skip", reason="paused"))
                continue
            await self._copy(swap)
            idle = not self.inbox and not self.exit_ticks  # nothing heard may be left behind
            if workflow.info().get_current_history_length() > RUN_LIMIT and idle:
                await self._trades_settled()
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.s)
        await self._trades_settled()
        await self._leader().signal("remove_copier", workflow.info().workflow_id)
        if self.s.request.rules.exit_rules:
            await local(act.FORGET_ALERT, type(None), workflow.info().workflow_id)
        return self.status()

    async def _copy(self, swap: LeaderSwap) -> None:
        """Decide, then start the copied trade; its fill updates the position when it ends."""
        today = workflow.now().date().isoformat()
        if self.s.day != today:
            self.s.day, self.s.spent = today, 0
        native = chains.get(self.s.request.chain).NATIVE
        side, lamports, why = decide(swap, self.s, native.id, workflow.now().timestamp())
        amount, sold = lamports, native.symbol
        if side == "sell":
            position = self.s.positions[swap.gave_asset]
            left = await workflow.execute_activity(
                act.LEADER_BALANCE,
                LeaderBalance(chain=self.s.request.chain, owner=swap.leader, asset=swap.gave_asset),
                result_type=int,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=2),
            )
            amount, sold = sell_amount(position, swap.gave_amount, left), position.symbol
            if amount <= 0:
                side, why = "skip", "nothing to sell"
        if side == "skip":
            self._record(Copied(signature=swap.signature, side="skip", reason=why))
            return
        if side == "buy":
            self.s.spent += amount  # reserved now; given back if the trade does not fill
        decimals = native.decimals if side == "buy" else self.s.positions[swap.gave_asset].decimals
        bought = swap.got_asset if side == "buy" else native.symbol
        request = self._trade_request(
            copied_trade_request_id(self.s.follower, swap.signature),
            plain(from_base_units(amount, decimals)),
            sold,
            bought,
        )
        if side == "buy":
            asset, symbol, decimals = swap.got_asset, swap.got_symbol, swap.got_decimals
        else:
            asset, symbol = swap.gave_asset, swap.gave_symbol

        async def settled(trade_id: str, result: WithdrawalStatus | None) -> None:
            added = self._settle(asset, symbol, decimals, side, trade_id, result)
            if side == "buy":  # reserved `amount`; it really cost what filled, or nothing
                filled = result.fill if result and result.status == "confirmed" else None
                self.s.spent += (filled.input_amount if filled else 0) - amount
            await self._tell(swap, trade_id, result)
            await self._after_fill(asset, added)

        await self._trade(swap.signature, side, request, settled)

    async def _trades_settled(self) -> None:
        """No trade in flight, and (since SETTLED_FIRST) none still settling: ending or
        continuing as new under a settle would lose its message and its exit watches."""
        await workflow.wait_condition(lambda: not self.trading)
        if workflow.patched(SETTLED_FIRST):
            await workflow.wait_condition(lambda: not self.settling)

    def _exit_request(self, position: Position, rule: str, amount: int) -> WithdrawalRequest:
        native = chains.get(self.s.request.chain).NATIVE
        return self._trade_request(
            self._exit_request_id(position.asset, position.opened, rule),
            plain(from_base_units(amount, position.decimals)),
            position.symbol,
            native.symbol,
        )

    def _exit_request_id(self, asset: str, opened: int, rule: str) -> str:
        follower = self.s.follower
        if workflow.patched(EXIT_ID_LEADER):
            return exit_request_id(follower, self.s.request.leader, asset, opened, rule)
        return legacy_exit_request_id(follower, asset, opened, rule)

    def _trade_request(
        self, request_id: str, amount: str, sold: str, bought: str
    ) -> WithdrawalRequest:
        req = self.s.request
        rules = req.rules
        assert req.intent is not None
        return WithdrawalRequest(
            request_id=request_id,
            chain=req.chain,
            asset=sold,
            to="",
            amount=amount,
            requested_by=self.s.follower,
            notify_queue=req.notify_queue,
            approval_timeout_seconds=600,  # a copy that can't go out soon is stale anyway
            swap=SwapOrder(
                output=bought,
                slippage_bps=rules.slippage_bps,
                priority_fee_lamports=rules.priority_fee_lamports,
            ),
            copied_by=CopyGrant(
                parent=workflow.info().workflow_id,
                leader=req.leader,
                rules=rules,
                intent=req.intent,
            ),
        )

    async def _tell(self, swap: LeaderSwap, trade_id: str, result: WithdrawalStatus | None) -> None:
        chat = self.s.request.notify_chat
        if not chat:
            return
        spec = chains.get(self.s.request.chain)
        text = texts.copy_message(
            swap.leader, spec.tx_url(swap.signature), self._outcome(trade_id, result)
        )
        await self._send(Notification(dedupe_key=f"{chat}:{trade_id}", chat_id=chat, text=text))

    async def _check_statement(self) -> str | None:
        """The follower's `copy` statement, against the roster as it is now; audited."""
        req = self.s.request
        intent = req.intent
        refusal: str | None = "no signed copy statement"
        if intent is not None:
            roster = await local(act.LOAD_ROSTER, Roster)
            verdict = verify(
                intent,
                roster,
                action="copy",
                workflow_id=workflow.info().workflow_id,
                params=req.rules.params(),
                now=int(workflow.now().timestamp()),
            )
            refusal = verdict.reason
            if verdict.ok:
                assert verdict.identity is not None
                self.s.follower = verdict.identity
        await audit_start("copy", "copy", intent, refusal)
        return refusal

    # ---- signals and the query ------------------------------------------------------------

    @workflow.signal
    def leader_swap(self, swap: LeaderSwap) -> None:
        if swap.leader == self.s.request.leader:
            self.inbox.append(swap)

    @workflow.signal
    def pause(self) -> None:
        self.s.paused = True
        self._publish()

    @workflow.signal
    def resume(self) -> None:
        self.s.paused = False
        self._publish()

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True

    @workflow.query
    def status(self) -> CopyStatus:
        state = (
            "refused"
            if self.refusal
            else "stopped"
            if self.stopped
            else "paused"
            if self.s.paused
            else "running"
        )
        return CopyStatus(
            workflow_id=workflow.info().workflow_id,
            follower=self.s.follower or self.s.request.follower,
            leader=self.s.request.leader,
            state=state,
            reason=self.refusal,
            rules=self.s.request.rules,
            positions=[p for p in self.s.positions.values() if p.amount > 0 or p.realized],
            spent_today=self.s.spent,
            realized_pnl=sum(p.realized for p in self.s.positions.values()),
            copied=self.s.copied[-KEEP_TRADES:],
        )

    # ---- helpers --------------------------------------------------------------------------

    def _leader(self) -> workflow.ExternalWorkflowHandle[object]:
        return workflow.get_external_workflow_handle(
            monitor_id(self.s.request.chain, self.s.request.leader)
        )

    def _remember(self, signature: str) -> None:
        self.s.seen.append(signature)
        del self.s.seen[:-SEEN_LIMIT]

    def _log(self) -> list[Copied]:
        return self.s.copied

    def _publish(self) -> None:
        workflow.upsert_search_attributes(
            [
                sa.CHAIN.value_set(self.s.request.chain),
                sa.LEADER.value_set(self.s.request.leader),
                sa.FOLLOWER.value_set(self.s.follower or self.s.request.follower),
                sa.STATUS.value_set("paused" if self.s.paused else "running"),
            ]
        )
