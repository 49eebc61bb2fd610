"""Price alerts: one `PriceAlertWorkflow` per alert (`alert-{chat}-{alert_id}`), and one
`PriceWatchWorkflow` per price provider that tells them when their condition is met.

The rules of an alert, in order:
1. Its state is `core/alerts.AlertState`, fed prices by `observe`: it fires once per crossing
   (hysteresis re-arms it, a cooldown holds a second fire back); a one-shot alert then ends.
2. Prices come as `price` signals from its provider's loop, which watches, for each alert, the
   one condition that would change its state next (`watch_of`), registered in Postgres with a
   growing version. An idle alert gets no signal at all; the loop signals only what is met.
3. A fire is one message, under a dedupe key counting the alert's fires (edits keep counting),
   so a retried or replayed fire never sends twice.
4. Every `reconcile_seconds` (hours) the alert registers its watch again and reads the price
   itself, so a lost signal or row makes a fire late, never lost.
5. Paused: no watch, prices ignored. Stopped or done: the row is removed and the workflow ends.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core import texts
    from core.alerts import (
        AlertRule,
        AlertRun,
        AlertState,
        AlertStatus,
        PriceTick,
        PriceWatchResult,
        PriceWatchState,
        RegisterAlert,
        describe,
        observe,
        watch_of,
    )
    from core.models import Notification, NotificationResult, WebhookEvent
    from core.webhooks import event_id
    from workflows.monitor import NOTIFY_RETRY
    from workflows.steps import ROUNDS_PER_RUN, local, parsed, round_of

RUN_LIMIT = 1_000  # history events before continuing as new


@workflow.defn(name="PriceAlertWorkflow")
class PriceAlertWorkflow:
    @workflow.init
    def __init__(self, run: AlertRun) -> None:
        self.r = run
        self.ticks: list[PriceTick] = []
        self.changed = False  # paused, resumed or edited: register again
        self.stopped = False

    @workflow.run
    async def run(self, run: AlertRun) -> AlertStatus:
        await self._register()
        while not self.stopped and not self.r.state.done:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.ticks) or self.changed or self.stopped,
                    timeout=timedelta(seconds=self.r.request.reconcile_seconds),
                )
            except TimeoutError:
                await self._reconcile()
            heard = bool(self.ticks) or self.changed
            while self.ticks and not self.stopped:
                await self._observe(self.ticks.pop(0))
            if heard and not self.stopped:
                self.changed = False
                await self._register()
            if workflow.info().get_current_history_length() > RUN_LIMIT and not self.ticks:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.r)
        await local(act.FORGET_ALERT, type(None), workflow.info().workflow_id)
        return self.status()

    async def _observe(self, tick: PriceTick) -> None:
        """One price: fire at most once for it, and only on a newer price than the last."""
        if self.r.paused or (self.r.last is not None and tick.at < self.r.last.at):
            return
        self.r.last = tick
        rule = self.r.request.rule
        reference = Decimal(tick.reference) if tick.reference is not None else None
        if rule.kind == "move" and reference is None:
            return  # a move is measured over the window's history, which only the loop keeps
        self.r.state, fire = observe(rule, self.r.state, Decimal(tick.price), tick.at, reference)
        if fire:
            await self._notify(Decimal(tick.price), reference)

    async def _reconcile(self) -> None:
        """The slow timer: register again (the row may be lost) and read the price once; a
        second registration only if that price changed the alert's watch."""
        before = self._registration().watch
        for tick in await local(act.REFRESH_ALERT, list[PriceTick], self._registration()):
            await self._observe(tick)
        if self._registration().watch != before:
            self.changed = True

    async def _register(self) -> None:
        self.r.version += 1
        await local(act.REGISTER_ALERT, type(None), self._registration())

    def _registration(self) -> RegisterAlert:
        req = self.r.request
        watch = None
        if not self.r.paused:
            watch = watch_of(workflow.info().workflow_id, req.asset, req.rule, self.r.state)
        if watch is not None:
            watch.version = self.r.version
        return RegisterAlert(
            status=self.status(),
            asset=req.asset,
            description=describe(req.rule, req.asset.symbol),
            watch=watch,
            version=self.r.version,
        )

    async def _notify(self, price: Decimal, reference: Decimal | None) -> None:
        req = self.r.request
        text = texts.alert_fired(
            describe(req.rule, req.asset.symbol),
            price,
            Decimal(req.set_price),
            reference,
            req.asset.chart_url,
        )
        key = f"{workflow.info().workflow_id}:fired:{self.r.state.fired}"
        webhook = WebhookEvent(
            event_id=event_id(f"alert.fired:{key}"),
            type="alert.fired",
            data={
                "alert_id": req.alert_id,
                "chat": req.chat,
                "chain": req.asset.chain,
                "asset": req.asset.asset_id,
                "symbol": req.asset.symbol,
                "condition": describe(req.rule, req.asset.symbol),
                "price": str(price),
                "reference": str(reference) if reference is not None else None,
                "set_price": req.set_price,
                "fired": self.r.state.fired,
            },
            ordering=workflow.info().workflow_id,
        )
        try:
            await workflow.execute_activity(
                act.SEND_NOTIFICATION,
                Notification(dedupe_key=key, chat_id=req.chat, text=text, webhook=webhook),
                result_type=NotificationResult,
                task_queue=req.notify_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=30),
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as exc:  # Telegram away for half an hour: the alert goes on
            workflow.logger.warning("alert message %s gave up: %s", key, exc)

    # ---- people ---------------------------------------------------------------------------

    @workflow.signal
    def price(self, tick: PriceTick) -> None:
        self.ticks.append(tick)

    @workflow.signal
    def pause(self) -> None:
        self.r.paused, self.changed = True, True

    @workflow.signal
    def resume(self) -> None:
        if self.r.paused:
            self.r.paused, self.changed = False, True

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True

    @workflow.update
    def edit(self, rule: Any) -> AlertStatus:
        """A new rule, armed afresh; the count of fires goes on (it keys the messages). The
        argument is untyped so that a malformed one is the validator's rejection."""
        self.r.request.rule = parsed(AlertRule, rule, "rule").checked()
        self.r.state = AlertState(fired=self.r.state.fired, last_fired_at=None)
        self.changed = True
        return self.status()

    @edit.validator
    def _check_edit(self, rule: Any) -> None:
        parsed(AlertRule, rule, "rule").checked()
        if self.stopped or self.r.state.done:
            raise ValueError("the alert has ended")

    @workflow.query
    def status(self) -> AlertStatus:
        req = self.r.request
        return AlertStatus(
            workflow_id=workflow.info().workflow_id,
            chat=req.chat,
            alert_id=req.alert_id,
            symbol=req.asset.symbol,
            rule=req.rule,
            armed=self.r.state.armed,
            done=self.r.state.done or self.stopped,
            paused=self.r.paused,
            fired=self.r.state.fired,
            last_price=self.r.last.price if self.r.last else None,
            last_at=self.r.last.at if self.r.last else None,
        )


@workflow.defn(name="PriceWatchWorkflow")
class PriceWatchWorkflow:
    """`prices-{queue}-{provider}`: runs the provider's `watch_prices` loop in long rounds."""

    @workflow.run
    async def run(self, state: PriceWatchState) -> None:
        while state.rounds < ROUNDS_PER_RUN:
            await round_of(act.WATCH_PRICES, state, PriceWatchResult, state.round_seconds)
            state.rounds += 1
        workflow.continue_as_new(
            PriceWatchState(
                provider=state.provider,
                poll_seconds=state.poll_seconds,
                round_seconds=state.round_seconds,
            )
        )
