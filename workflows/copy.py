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
4. Take-profit, stop-loss and trailing stop (when the rules set them): a bought position's
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

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core import search_attributes as sa
    from core import texts
    from core.alerts import AlertWatch, PriceQuery, PriceTick, WatchChange
    from core.amounts import from_base_units, plain
    from core.assets import Asset
    from core.copying import (
        PEAK,
        SEEN_LIMIT,
        Copied,
        CopyGrant,
        CopyState,
        CopyStatus,
        LeaderSwap,
        Position,
        decide,
        entry_after_buy,
        exit_amount,
        exit_level,
        exit_request_id,
        exit_watch_id,
        legacy_exit_request_id,
        raised_peak,
        sell_amount,
    )
    from core.ids import copied_trade_request_id, monitor_id
    from core.intents import Roster, verify
    from core.models import (
        AuditEntry,
        LeaderBalance,
        Notification,
        SwapOrder,
        WithdrawalRequest,
        WithdrawalStatus,
    )
    from workflows.steps import local

# Exit trades name the leader: without it, two copies of one follower holding the same token
# shared exit ids, and the second copy's exit was refused as a duplicate.
EXIT_ID_LEADER = "exit-id-with-leader"
KEEP_COPIED = 50  # the most recent copies shown by `status`
RUN_LIMIT = 2_000  # history events before continuing as new


@workflow.defn(name="CopyTradeWorkflow")
class CopyTradeWorkflow:
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
                await workflow.wait_condition(lambda: not self.trading)
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.s)
        await workflow.wait_condition(lambda: not self.trading)
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
            added = self._settle(asset, symbol, decimals, side, amount, trade_id, result)
            await self._tell(swap, trade_id, result)
            await self._after_fill(asset, added)

        await self._trade(swap.signature, side, request, settled)

    async def _trade(
        self,
        key: str,
        side: Literal["buy", "sell"],
        request: WithdrawalRequest,
        settled: Callable[[str, WithdrawalStatus | None], Awaitable[None]],
    ) -> None:
        """Start the child trade (at most once: its id is derived), and settle it when it
        ends, in the background: copying goes on meanwhile."""
        trade_id = f"trade-{request.request_id}"
        try:
            handle = await workflow.start_child_workflow(
                "TradeWorkflow",
                request,
                id=trade_id,
                task_queue=self.s.request.trade_queue,
                result_type=WithdrawalStatus,
                parent_close_policy=ParentClosePolicy.ABANDON,  # a trade in flight finishes
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:  # started before (a repeat this workflow forgot)
            self._record(Copied(signature=key, side=side, reason="copied before"))
            return
        self.trading.add(key)
        self._record(Copied(signature=key, side=side, trade_id=trade_id, status="started"))
        workflow.logger.info("trading %s as %s", key, trade_id)

        async def settle() -> None:
            try:
                result = await handle
            except ChildWorkflowError as exc:
                result = None
                workflow.logger.warning("%s failed: %s", trade_id, exc)
            self.trading.discard(key)
            await settled(trade_id, result)

        asyncio.get_running_loop().create_task(settle())

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

    def _settle(
        self,
        asset: str,
        symbol: str,
        decimals: int,
        side: str,
        amount: int,
        trade_id: str,
        result: WithdrawalStatus | None,
    ) -> int:
        """The trade's fill into the position; a buy that did not fill gives its spend back.
        What a buy added to the position (0 for a sell, or nothing filled)."""
        fill = result.fill if result is not None and result.status == "confirmed" else None
        status = result.status if result is not None else "failed"
        for copied in self.s.copied:
            if copied.trade_id == trade_id:
                copied.status = status
                copied.reason = result.reason if result is not None and fill is None else None
        if side == "buy":
            if fill is None:
                self.s.spent -= amount
                return 0
            position = self.s.positions.setdefault(
                fill.output_id, Position(asset=fill.output_id, symbol=symbol, decimals=decimals)
            )
            if position.amount <= 0:  # a new opening: its exits start afresh
                position.opened, position.exits = position.opened + 1, []
                position.entry_usd = position.peak_usd = None
            position.amount += fill.output_amount
            position.cost += fill.input_amount
            self.s.spent += fill.input_amount - amount  # what it really cost
            return fill.output_amount
        position = self.s.positions[asset]
        if fill is None or position.amount <= 0:
            return 0
        sold = min(fill.input_amount, position.amount)
        cost = position.cost * sold // position.amount
        position.amount -= sold
        position.cost -= cost
        position.realized += fill.output_amount - cost
        return 0

    # ---- take-profit and stop-loss --------------------------------------------------------

    async def _after_fill(self, asset: str, added: int) -> None:
        """Keep the position's exits registered: new entry price after a buy, none once it
        is closed. Nothing happens for rules without exits (and so for every copy recorded
        before exits existed)."""
        rules = self.s.request.rules
        position = self.s.positions.get(asset)
        if not rules.exit_rules or position is None:
            return
        if position.amount <= 0:
            await self._watches([], [exit_watch_id(self._id, asset, r) for r in rules.watched])
            return
        if added <= 0:
            return
        priced = self._priced_as(position)
        ticks = await local(act.USD_PRICE, list[PriceTick], priced)
        if not ticks:  # no fresh price: no exits until the next buy reads one
            why = f"no {priced.provider} price for {position.symbol}: exits off"
            self._record(Copied(signature=f"exit:{asset}", side="skip", reason=why))
            return
        price = Decimal(ticks[0].price)
        position.entry_usd = entry_after_buy(position, added, price)
        if "trail" in rules.exit_rules:
            position.peak_usd = raised_peak(position, price)
        await self._watches(
            [self._exit_watch(position, r, priced) for r in self._pending(position)],
            [],
        )

    def _pending(self, position: Position) -> list[str]:
        """The watches a position still needs: exits not yet fired (and the trailing stop's
        `peak` while the trailing stop has not fired)."""
        fired = [*position.exits, *([PEAK] if "trail" in position.exits else [])]
        return [r for r in self.s.request.rules.watched if r not in fired]

    def _priced_as(self, position: Position) -> PriceQuery:
        """The position's price: the chain's first provider for it, the others as failover."""
        spec = chains.get(self.s.request.chain)
        asset = Asset(symbol=position.symbol, decimals=position.decimals, id=position.asset)
        (provider, price_id), *others = spec.price_ids(asset).items()
        return PriceQuery(provider=provider, price_id=price_id, fallback=dict(others))

    def _exit_watch(self, position: Position, rule: str, priced: PriceQuery) -> AlertWatch:
        op, level = exit_level(position, self.s.request.rules, rule)
        self.s.watch_version += 1
        return AlertWatch(
            watch_id=exit_watch_id(self._id, position.asset, rule),
            workflow_id=self._id,
            provider=priced.provider,
            price_id=priced.price_id,
            op=op,
            level=str(level),
            version=self.s.watch_version,
            fallback=priced.fallback,
        )

    async def _watches(self, watches: list[AlertWatch], dropped: list[str]) -> None:
        await local(act.REGISTER_WATCHES, type(None), WatchChange(watches=watches, dropped=dropped))

    async def _exit(self, tick: PriceTick) -> None:
        """A met exit watch: sell once per rule and opening, if the price still says so."""
        _, asset, rule = tick.watch_id.rsplit("#", 2)
        position = self.s.positions.get(asset)
        rules = self.s.request.rules
        if rule == PEAK:
            await self._raise_trail(position, Decimal(tick.price))
            return
        if (
            position is None
            or position.amount <= 0
            or position.entry_usd is None
            or rule not in rules.exit_rules
            or rule in position.exits
        ):
            return  # a late tick: the position closed, or this exit fired already
        op, level = exit_level(position, rules, rule)
        price = Decimal(tick.price)
        if not (price >= level if op == "ge" else price <= level):
            # The entry moved since the loop reported this watch (a buy in between): watch
            # the level again, under a newer version, or the loop would not re-arm it.
            await self._watches([self._exit_watch(position, rule, self._priced_as(position))], [])
            return
        position.exits.append(rule)  # before the trade starts: never a second one
        await self._watches([], [exit_watch_id(self._id, asset, rule)])
        amount = exit_amount(position, rules, rule)
        if amount <= 0:
            return
        native = chains.get(self.s.request.chain).NATIVE
        request = self._trade_request(
            self._exit_request_id(asset, position.opened, rule),
            plain(from_base_units(amount, position.decimals)),
            position.symbol,
            native.symbol,
        )

        async def settled(trade_id: str, result: WithdrawalStatus | None) -> None:
            self._settle(asset, position.symbol, position.decimals, "sell", amount, trade_id,
                         result)  # fmt: skip
            await self._tell_exit(rule, position.symbol, price, trade_id, result)
            await self._after_fill(asset, 0)

        await self._trade(f"exit:{rule}:{asset}:{position.opened}", "sell", request, settled)

    def _exit_request_id(self, asset: str, opened: int, rule: str) -> str:
        follower = self.s.follower
        if workflow.patched(EXIT_ID_LEADER):
            return exit_request_id(follower, self.s.request.leader, asset, opened, rule)
        return legacy_exit_request_id(follower, asset, opened, rule)

    async def _raise_trail(self, position: Position | None, price: Decimal) -> None:
        """A new high: the trailing stop moves up under it (and the next step above)."""
        if position is None or position.amount <= 0 or position.entry_usd is None:
            return  # a late tick: the position closed
        if PEAK not in self._pending(position):
            return
        position.peak_usd = raised_peak(position, price)
        priced = self._priced_as(position)
        await self._watches([self._exit_watch(position, r, priced) for r in ("trail", PEAK)], [])

    async def _tell_exit(
        self, rule: str, symbol: str, price: Decimal, trade_id: str, result: WithdrawalStatus | None
    ) -> None:
        chat = self.s.request.notify_chat
        if not chat:
            return
        name = {"tp": "take-profit", "sl": "stop-loss"}.get(rule, "trailing stop")
        text = texts.exit_message(name, symbol, price, self._outcome(trade_id, result))
        await self._send(Notification(dedupe_key=f"{chat}:{trade_id}", chat_id=chat, text=text))

    def _outcome(self, trade_id: str, result: WithdrawalStatus | None) -> texts.TradeOutcome:
        spec = chains.get(self.s.request.chain)
        if result is None:
            return texts.TradeOutcome(trade_id, "failed", None, None)
        tx = spec.tx_url(result.tx_id) if result.tx_id else None
        return texts.TradeOutcome(trade_id, result.status, tx, result.reason)

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    async def _tell(self, swap: LeaderSwap, trade_id: str, result: WithdrawalStatus | None) -> None:
        chat = self.s.request.notify_chat
        if not chat:
            return
        spec = chains.get(self.s.request.chain)
        text = texts.copy_message(
            swap.leader, spec.tx_url(swap.signature), self._outcome(trade_id, result)
        )
        await self._send(Notification(dedupe_key=f"{chat}:{trade_id}", chat_id=chat, text=text))

    async def _send(self, notification: Notification) -> None:
        try:
            await workflow.execute_activity(
                act.SEND_NOTIFICATION,
                notification,
                task_queue=self.s.request.notify_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=10),
            )
        except Exception as exc:  # a message must not block the copying
            workflow.logger.warning("message to %s failed: %s", notification.chat_id, exc)

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
        await local(
            act.AUDIT,
            type(None),
            AuditEntry(
                actor=(intent.intent.on_behalf_of or intent.intent.principal)
                if intent
                else "anonymous",
                principal=intent.intent.principal if intent else None,
                action="copy.start",
                subject=f"copy:{workflow.info().workflow_id}",
                outcome="refused" if refusal else "accepted",
                reason=refusal,
                key=f"{workflow.info().workflow_id}:start",
            ),
        )
        return refusal

    # ---- signals and the query ------------------------------------------------------------

    @workflow.signal
    def leader_swap(self, swap: LeaderSwap) -> None:
        if swap.leader == self.s.request.leader:
            self.inbox.append(swap)

    @workflow.signal
    def price(self, tick: PriceTick) -> None:
        """A position's exit watch was met (the price-watch loop)."""
        self.exit_ticks.append(tick)

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
            copied=self.s.copied[-KEEP_COPIED:],
        )

    # ---- helpers --------------------------------------------------------------------------

    def _leader(self) -> workflow.ExternalWorkflowHandle[object]:
        return workflow.get_external_workflow_handle(
            monitor_id(self.s.request.chain, self.s.request.leader)
        )

    def _remember(self, signature: str) -> None:
        self.s.seen.append(signature)
        del self.s.seen[:-SEEN_LIMIT]

    def _record(self, copied: Copied) -> None:
        self.s.copied.append(copied)
        del self.s.copied[:-KEEP_COPIED]

    def _publish(self) -> None:
        workflow.upsert_search_attributes(
            [
                sa.CHAIN.value_set(self.s.request.chain),
                sa.LEADER.value_set(self.s.request.leader),
                sa.FOLLOWER.value_set(self.s.follower or self.s.request.follower),
                sa.STATUS.value_set("paused" if self.s.paused else "running"),
            ]
        )
