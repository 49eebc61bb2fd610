"""WalletMonitorWorkflow: one durable workflow per watched wallet, `wallet-{chain}-{address}`.

The rules it enforces, in order:
1. The cursor is the truth. Each check asks the chain for everything after the cursor (the
   reader pages back until it finds it) over finalized/solidified data only, so nothing is
   skipped; the cursor moves only after the events were ledgered and notified.
2. Events reach the ledger (unique per chain, tx, index, wallet) inside the fetch activity,
   before any notification; each notification has a unique key per chat and event.
3. Idle costs almost nothing: the workflow sleeps until the chain trigger pokes it, and
   reconciles on a slow timer as the safety net.
4. Two phases: a push (`seen`: Solana confirmed, TRON head block) makes the workflow peek past
   the cursor and announce new events at once, then wait for finality. The final check edits
   each announced message in place to final; an announced event that finalized data has left
   behind is concluded as dropped. Early events are never ledgered and never move the cursor.
5. Paused: nothing is fetched or sent; on resume, everything since the cursor arrives once.
6. History stays small: continue-as-new carries the state (announced events too) once the
   server suggests it.
7. Copy trading: each swap the wallet makes, early or final, is signalled to the copy
   workflows that follow it (they copy each leader signature once); a wallet that copiers
   follow keeps being watched without a chat.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core import search_attributes as sa
    from core.copying import swap_of
    from core.models import (
        Conclusion,
        DroppedEvents,
        EarlyEvent,
        FetchRequest,
        FetchResult,
        MonitorState,
        MonitorStatus,
        Notification,
        NotificationResult,
        Poke,
        Subscription,
        Unsubscribe,
        WalletEvent,
        WalletRef,
    )
    from core.texts import concluded_message, early_messages_for, event_key, messages_for

R = TypeVar("R")

POKE_RETRY = timedelta(seconds=1)  # a poke ahead of finality: look again shortly
POKE_PATIENCE = 30
RECENT = 10
DROPPED_WEBHOOKS = "dropped-webhooks"  # workflow.patched id: dropped events nobody was told
EARLY_RECHECK = timedelta(seconds=20)  # announced events not final yet: look this often
HEARTBEAT_TIMEOUT = timedelta(seconds=20)

RPC_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidInput"],
)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=30),
)


@workflow.defn(name="WalletMonitorWorkflow")
class WalletMonitorWorkflow:
    @workflow.init
    def __init__(self, state: MonitorState) -> None:
        self.s = state
        self.stopping = False
        self.subscribers_changed = False
        self.last_check: datetime | None = None

    # ---- the rules -----------------------------------------------------------------------

    @workflow.run
    async def run(self, state: MonitorState) -> MonitorStatus:
        self._publish_state()
        if self.s.cursor is None:
            self.s.cursor = await self._call(act.START_WATCHING, dict, self._ref())
            self.subscribers_changed = False  # start_watching saved them
        while not self.stopping:
            due = await self._sleep_until_due()
            if self.stopping:
                break
            if self.subscribers_changed:
                self.subscribers_changed = False
                if not self.s.subscribers and not self.s.copiers:
                    break  # nobody watches any more
                await self._call(act.SAVE_SUBSCRIPTIONS, type(None), self._ref())
            if self._seen():
                await self._announce()
            if due and not self.s.paused:
                await self._check()
            # A stop or subscription change that arrived meanwhile is served first: the flags
            # live in this run only, continuing as new now would drop them.
            if self._history_is_long() and not (self.stopping or self.subscribers_changed):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.s)
        await self._call(act.FORGET_WALLET, type(None), self._ref())
        return self.status()

    async def _sleep_until_due(self) -> bool:
        """Wait for a poke, a push, a signal or the reconcile timer; True when a check is due.

        While announced events await their end, wake sooner: one that finality passes by
        must be concluded as dropped without waiting for the slow reconcile.
        """
        waiting = self.s.early and not self.s.paused
        timeout = EARLY_RECHECK if waiting else timedelta(seconds=self.s.reconcile_seconds)
        try:
            await workflow.wait_condition(
                lambda: self.stopping or self.subscribers_changed or self._poked() or self._seen(),
                timeout=timeout,
            )
        except TimeoutError:
            if waiting:  # read up to the newest announced block, so finality is measured
                newest = max(early.event.block for early in self.s.early.values())
                self.s.pending_block = max(newest, self.s.pending_block or 0)
            return True  # the slow reconcile: the safety net under the trigger
        return self._poked()

    def _poked(self) -> bool:
        return self.s.pending_block is not None and not self.s.paused

    def _seen(self) -> bool:
        return self.s.seen_block is not None and not self.s.paused

    async def _announce(self) -> None:
        """Peek past the cursor and tell each chat at once about events not final yet; then
        look for their finality (a poke at their block)."""
        self.s.seen_block = None  # a push arriving during the peek sets it again
        result = await self._call(
            act.PEEK_EVENTS,
            FetchResult,
            FetchRequest(chain=self.s.chain, address=self.s.address, cursor=self.s.cursor),
        )
        self.s.counters.peeks += 1
        fresh = [e for e in result.events if e.key not in self.s.early]
        if self.s.paused or not fresh:
            return
        self.s.last_seen = workflow.now()
        for event in fresh:
            self.s.early[event.key] = EarlyEvent(event=event)
        await self._tell_copiers(fresh)
        tx_url = chains.get(self.s.chain).tx_url
        told = [
            (event, sub.chat_id, Notification(dedupe_key=key, chat_id=sub.chat_id, text=text))
            for sub in list(self.s.subscribers.values())
            for event, key, text in early_messages_for(sub, fresh, tx_url)
        ]
        sent = await asyncio.gather(*(self._send(n) for _, _, n in told))
        for (event, chat_id, _), outcome in zip(told, sent, strict=True):
            # Whatever the outcome, this chat's message for the event is now the early one:
            # the conclusion edits it, or replaces it when there is nothing to edit.
            self.s.early[event.key].chats.append(chat_id)
            self._tally(outcome)
        self.s.counters.pending += len({event.key for event, _, _ in told})
        newest = max(e.block for e in fresh)
        self.s.pending_block = max(newest, self.s.pending_block or 0)

    async def _check(self) -> None:
        """Fetch everything after the cursor, notify, then move the cursor.

        A poke names the block where the trigger saw a change; while finalized data lags
        behind it, look again shortly rather than waiting for the reconcile timer.
        """
        wanted = self.s.pending_block
        self.s.pending_block = None  # a poke arriving during the check sets it again
        for _ in range(POKE_PATIENCE):
            final_block = await self._fetch_all(wanted)
            if wanted is None or final_block >= wanted or self.s.paused:
                break
            # Waiting for finality; a push meanwhile is announced now, not after it.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(self._seen, timeout=POKE_RETRY)
            if self._seen():
                await self._announce()
            if self.s.paused:
                break  # paused while waiting: fetch nothing more (resume catches up)
        self.last_check = workflow.now()

    async def _fetch_all(self, wanted: int | None) -> int:
        while True:
            result = await self._call(
                act.FETCH_EVENTS,
                FetchResult,
                FetchRequest(
                    chain=self.s.chain,
                    address=self.s.address,
                    cursor=self.s.cursor,
                    min_block=wanted,
                ),
            )
            self.s.counters.fetches += 1
            if self.s.paused:
                # Paused while fetching: send nothing and keep the cursor, so that resume
                # reads these events again (the ledger already has them) and sends them once.
                return result.final_block
            await self._notify(result.events)
            self.s.cursor = result.cursor
            self._remember(result.events)
            if not result.more:
                await self._conclude_dropped(result.final_block)
                return result.final_block

    async def _notify(self, events: list[WalletEvent]) -> None:
        """Final events: each chat's early message is edited to final; the rest are sent."""
        if not events:
            return
        await self._tell_copiers(events)  # those seen early were told then: they dedupe
        self.s.counters.events += len(events)
        self.s.last_seen = workflow.now()
        tx_url = chains.get(self.s.chain).tx_url
        jobs = [
            self._conclude(self._audience(chat_id), e, "final")
            for e in events
            for chat_id in self._chats_told(e.key)
        ]
        for sub in list(self.s.subscribers.values()):
            untold = [e for e in events if sub.chat_id not in self._chats_told(e.key)]
            jobs += [
                self._send(Notification(dedupe_key=key, chat_id=sub.chat_id, text=text))
                for key, text in messages_for(sub, untold, tx_url)
            ]
        for result in await asyncio.gather(*jobs):
            self._tally(result)
        for event in events:
            self.s.early.pop(event.key, None)

    async def _tell_copiers(self, events: list[WalletEvent]) -> None:
        """Signal each swap to every copier; one that is gone stops being told."""
        swaps = [swap_of(e, workflow.now().timestamp()) for e in events if e.gave is not None]
        if not swaps or not self.s.copiers:
            return

        async def tell(copier: str) -> None:
            handle = workflow.get_external_workflow_handle(copier)
            try:
                for swap in swaps:
                    await handle.signal("leader_swap", swap)
            except ApplicationError:  # no such workflow any more
                self.remove_copier(copier)

        await asyncio.gather(*(tell(c) for c in list(self.s.copiers)))

    async def _conclude_dropped(self, final_block: int) -> None:
        """Announced events that finalized data has passed without them never became final."""
        margin = chains.get(self.s.chain).EARLY_DROP_BLOCKS
        dropped = [
            early
            for early in self.s.early.values()
            if final_block and early.event.block + margin <= final_block
        ]
        if not dropped:
            return
        jobs = [
            self._conclude(self._audience(chat_id), early.event, "dropped")
            for early in dropped
            for chat_id in early.chats
        ]
        for result in await asyncio.gather(*jobs):
            self._tally(result)
        # Webhooks heard "pending" of every early event, told to a chat or not: they hear the
        # end too (a chat's conclusion emits it for the events a chat was told about).
        untold = [early.event for early in dropped if not early.chats]
        if untold and workflow.patched(DROPPED_WEBHOOKS):
            await self._call(act.EMIT_DROPPED, type(None), DroppedEvents(events=untold))
        for early in dropped:
            del self.s.early[early.event.key]
        self.s.counters.dropped += len(dropped)

    def _audience(self, chat_id: int) -> Subscription:
        """The chat's subscription; a chat that unsubscribed since still hears the end."""
        return self.s.subscribers.get(chat_id) or Subscription(chat_id=chat_id)

    def _chats_told(self, key: str) -> list[int]:
        early = self.s.early.get(key)
        return early.chats if early is not None else []

    async def _conclude(
        self, sub: Subscription, event: WalletEvent, outcome: str
    ) -> NotificationResult:
        tx_url = chains.get(self.s.chain).tx_url
        conclusion = Conclusion(
            dedupe_key=event_key(sub, event),
            chat_id=sub.chat_id,
            text=concluded_message(sub, event, tx_url, outcome),
            outcome="final" if outcome == "final" else "dropped",
            event=event,
        )
        result = await self._notification(act.CONCLUDE_NOTIFICATION, conclusion)
        if outcome == "final":
            if result.status == "edited":
                self.s.counters.finals_edited += 1
            elif result.status != "failed":
                self.s.counters.finals_new += 1
        return result

    def _tally(self, result: NotificationResult) -> None:
        if result.status in ("sent", "edited"):
            self.s.counters.notifications_sent += 1
        elif result.status == "unknown":
            self.s.counters.notifications_unknown += 1
        else:
            self.s.counters.notifications_failed += 1

    async def _send(self, notification: Notification) -> NotificationResult:
        return await self._notification(act.SEND_NOTIFICATION, notification)

    async def _notification(
        self, name: str, notification: Notification | Conclusion
    ) -> NotificationResult:
        try:
            return await workflow.execute_activity(
                name,
                notification,
                result_type=NotificationResult,
                task_queue=self.s.notify_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=30),
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as exc:
            # Telegram unreachable for half an hour: the event stays in the ledger and the
            # notification row stays pending; the monitor must not stall on one chat.
            workflow.logger.warning("notification %s gave up: %s", notification.dedupe_key, exc)
            return NotificationResult(status="failed", detail=str(exc.cause or exc))

    # ---- signals and the query -----------------------------------------------------------

    @workflow.signal
    def subscribe(self, sub: Subscription) -> None:
        self.s.subscribers[sub.chat_id] = sub
        self.subscribers_changed = True

    @workflow.signal
    def unsubscribe(self, change: Unsubscribe) -> None:
        if self.s.subscribers.pop(change.chat_id, None) is not None:
            self.subscribers_changed = True

    @workflow.signal
    def poke(self, poke: Poke) -> None:
        self.s.pending_block = max(poke.block, self.s.pending_block or 0)

    @workflow.signal
    def seen(self, poke: Poke) -> None:
        """From the push follower: the wallet changed at `block`, not final yet."""
        self.s.seen_block = max(poke.block, self.s.seen_block or 0)

    @workflow.signal
    def add_copier(self, copier: str) -> None:
        """A copy workflow (`copy-{follower}-{leader}`) that wants this wallet's swaps."""
        if copier not in self.s.copiers:
            self.s.copiers.append(copier)

    @workflow.signal
    def remove_copier(self, copier: str) -> None:
        if copier in self.s.copiers:
            self.s.copiers.remove(copier)
            self.subscribers_changed = True  # the last one gone may end an unwatched monitor

    @workflow.signal
    def pause(self) -> None:
        self.s.paused = True
        self._publish_state()

    @workflow.signal
    def resume(self) -> None:
        if self.s.paused:
            self.s.paused = False
            # Catch up at once on whatever happened while paused.
            self.s.pending_block = self.s.pending_block or 0
            self._publish_state()

    @workflow.signal
    def stop(self) -> None:
        self.stopping = True
        self._publish_state()

    @workflow.query
    def status(self) -> MonitorStatus:
        return MonitorStatus(
            workflow_id=workflow.info().workflow_id,
            chain=self.s.chain,
            address=self.s.address,
            state="stopping" if self.stopping else "paused" if self.s.paused else "running",
            cursor=self.s.cursor,
            counters=self.s.counters,
            subscribers=list(self.s.subscribers.values()),
            recent=self.s.recent,
            last_check=self.last_check,
            last_seen=self.s.last_seen,
            pending=[early.event for early in self.s.early.values()],
            copiers=list(self.s.copiers),
        )

    # ---- helpers -------------------------------------------------------------------------

    def _ref(self) -> WalletRef:
        return WalletRef(
            chain=self.s.chain,
            address=self.s.address,
            subscribers=list(self.s.subscribers.values()),
        )

    async def _call(self, name: str, result_type: type[R], arg: Any) -> R:
        """Run one of this chain's monitor activities (same task queue as the workflow)."""
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,  # a dead worker costs seconds, not minutes
            retry_policy=RPC_RETRY,
        )

    def _remember(self, events: list[WalletEvent]) -> None:
        self.s.recent = (self.s.recent + events)[-RECENT:]

    def _publish_state(self) -> None:
        state = "stopped" if self.stopping else "paused" if self.s.paused else "running"
        workflow.upsert_search_attributes(
            [
                sa.CHAIN.value_set(self.s.chain),
                sa.ADDRESS.value_set(self.s.address),
                sa.STATUS.value_set(state),
            ]
        )

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.s.history_limit
        )
