"""Holding positions with exits: what CopyTradeWorkflow (a copy's positions) and
PositionWorkflow (a plain `trade buy` with exits) share.

The rules, in order:
1. Every trade is a child `TradeWorkflow` with a derived id, started at most once (a repeat is
   refused by Temporal); its fill settles into the position when it ends, in the background.
2. A bought position's entry USD price is read once it fills, and its exits (core/exits.py)
   are registered as price watches; the price-watch loop signals `price` when one is met.
3. An exit sells once per rule and opening of the position: it is remembered before its
   trade starts, so a price crossing back and forth sells once. A trailing stop's `peak`
   watch only moves the stop up.
4. A closed position drops its watches.

A subclass says how an exit's trade is authorized (`_exit_request`) and where trades are
recorded (`_log`), and keeps `s` (`Holding`) with its request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Literal, Protocol

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core import texts
    from core.alerts import AlertWatch, PriceQuery, PriceTick, WatchChange
    from core.assets import Asset
    from core.copying import Copied
    from core.exits import (
        PEAK,
        ExitRules,
        Position,
        entry_after_buy,
        exit_amount,
        exit_level,
        exit_watch_id,
        raised_peak,
    )
    from core.models import Notification, WithdrawalRequest, WithdrawalStatus
    from workflows.steps import local

KEEP_TRADES = 50  # the most recent trades kept (and shown by `status`)
EXIT_NAMES = {"tp": "take-profit", "sl": "stop-loss", "trail": "trailing stop"}


class HoldingRequest(Protocol):
    @property
    def chain(self) -> str: ...
    @property
    def rules(self) -> ExitRules: ...
    @property
    def notify_chat(self) -> int | None: ...
    @property
    def notify_queue(self) -> str: ...
    @property
    def trade_queue(self) -> str: ...


class Holding(Protocol):
    """The state a holder carries across continue-as-new."""

    @property
    def request(self) -> HoldingRequest: ...
    @property
    def positions(self) -> dict[str, Position]: ...

    watch_version: int


class PositionHolder:
    s: Holding
    trading: set[str]  # keys of the trades in flight
    exit_ticks: list[PriceTick]
    settling = 0  # trades ended whose settling (position, message, watches) is under way

    def _exit_request(
        self, position: Position, rule: str, amount: int
    ) -> WithdrawalRequest:  # pragma: no cover - every holder defines it
        """The exit's trade: its derived id, and the grant that authorizes it."""
        raise NotImplementedError

    def _log(self) -> list[Copied]:  # pragma: no cover - every holder defines it
        raise NotImplementedError

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    def _record(self, entry: Copied) -> None:
        log = self._log()
        log.append(entry)
        del log[:-KEEP_TRADES]

    # ---- trades ---------------------------------------------------------------------------

    async def _trade(
        self,
        key: str,
        side: Literal["buy", "sell"],
        request: WithdrawalRequest,
        settled: Callable[[str, WithdrawalStatus | None], Awaitable[None]],
    ) -> None:
        """Start the child trade (at most once: its id is derived), and settle it when it
        ends, in the background: the holder goes on meanwhile."""
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
            self.settling += 1
            try:
                await settled(trade_id, result)
            finally:
                self.settling -= 1

        asyncio.get_running_loop().create_task(settle())

    def _settle(
        self,
        asset: str,
        symbol: str,
        decimals: int,
        side: str,
        trade_id: str,
        result: WithdrawalStatus | None,
    ) -> int:
        """The trade's fill into the position: what a buy added to it (0 for a sell, or
        nothing filled)."""
        fill = result.fill if result is not None and result.status == "confirmed" else None
        status = result.status if result is not None else "failed"
        for entry in self._log():
            if entry.trade_id == trade_id:
                entry.status = status
                entry.reason = result.reason if result is not None and fill is None else None
        if side == "buy":
            if fill is None:
                return 0
            position = self.s.positions.setdefault(
                fill.output_id, Position(asset=fill.output_id, symbol=symbol, decimals=decimals)
            )
            if position.amount <= 0:  # a new opening: its exits start afresh
                position.opened, position.exits = position.opened + 1, []
                position.entry_usd = position.peak_usd = None
            position.amount += fill.output_amount
            position.cost += fill.input_amount
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

    # ---- exits ----------------------------------------------------------------------------

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
            [self._exit_watch(position, r, priced) for r in self._pending(position)], []
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
        request = self._exit_request(position, rule, amount)

        async def settled(trade_id: str, result: WithdrawalStatus | None) -> None:
            self._settle(asset, position.symbol, position.decimals, "sell", trade_id, result)
            await self._tell_exit(rule, position.symbol, price, trade_id, result)
            await self._after_fill(asset, 0)

        await self._trade(f"exit:{rule}:{asset}:{position.opened}", "sell", request, settled)

    async def _raise_trail(self, position: Position | None, price: Decimal) -> None:
        """A new high: the trailing stop moves up under it (and the next step above)."""
        if position is None or position.amount <= 0 or position.entry_usd is None:
            return  # a late tick: the position closed
        if PEAK not in self._pending(position):
            return
        position.peak_usd = raised_peak(position, price)
        priced = self._priced_as(position)
        await self._watches([self._exit_watch(position, r, priced) for r in ("trail", PEAK)], [])

    # ---- messages -------------------------------------------------------------------------

    async def _tell_exit(
        self, rule: str, symbol: str, price: Decimal, trade_id: str, result: WithdrawalStatus | None
    ) -> None:
        chat = self.s.request.notify_chat
        if not chat:
            return
        text = texts.exit_message(EXIT_NAMES[rule], symbol, price, self._outcome(trade_id, result))
        await self._send(Notification(dedupe_key=f"{chat}:{trade_id}", chat_id=chat, text=text))

    def _outcome(self, trade_id: str, result: WithdrawalStatus | None) -> texts.TradeOutcome:
        spec = chains.get(self.s.request.chain)
        if result is None:
            return texts.TradeOutcome(trade_id, "failed", None, None)
        tx = spec.tx_url(result.tx_id) if result.tx_id else None
        return texts.TradeOutcome(trade_id, result.status, tx, result.reason)

    async def _send(self, notification: Notification) -> None:
        try:
            await workflow.execute_activity(
                act.SEND_NOTIFICATION,
                notification,
                task_queue=self.s.request.notify_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=10),
            )
        except Exception as exc:  # a message must not block the trading
            workflow.logger.warning("message to %s failed: %s", notification.chat_id, exc)

    # ---- signals --------------------------------------------------------------------------

    @workflow.signal
    def price(self, tick: PriceTick) -> None:
        """A position's exit watch was met (the price-watch loop)."""
        self.exit_ticks.append(tick)
