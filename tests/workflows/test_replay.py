"""Recorded histories of every workflow replay without non-determinism errors.

Two sources: the histories committed under `histories/` (recorded from earlier versions of the
code: a workflow change that breaks a running monitor, chain watch or withdrawal fails here),
and monitor histories recorded now from a scenario against the real stack (pokes, a digest,
pause and resume, subscription changes, continue-as-new, stop; and the per-chain triggers).

The committed ones:
- `solana-monitor-*`, `tron-monitor-*`, `*-watch-*`: WalletMonitorWorkflow and
  ChainWatchWorkflow, from the real-stack scenario below, recorded by
  `WALLETFLOW_RECORD_HISTORIES=SUFFIX pytest tests/workflows/test_replay.py -k fresh`. The
  unsuffixed ones come from before two-phase alerts; `*-two-phase-*` from after them: their
  monitors heard `seen` signals, sent pending messages and concluded them.
- `copy-*`, `trade-copy-*` and the `wallet-solana-*` beside them: CopyTradeWorkflow (a copy
  that bought, sold and stopped), one of its copied trades, and the leader's monitor, which
  signalled both swaps to it and ended when its only copier left; recorded by
  `WALLETFLOW_RECORD_HISTORIES=1 pytest tests/workflows/trade/test_copy.py -k half_sell`.
- `alert-crossings` and `prices-jupiter`: PriceAlertWorkflow (a repeating alert that fired,
  re-armed, fired again and was stopped) and the price-watch loop that signalled it, recorded
  by `WALLETFLOW_RECORD_HISTORIES=1 pytest tests/workflows/alert -k crossing`.
- `copy-operator-GHyB8…`: CopyTradeWorkflow with take-profit and stop-loss (a bought
  position's entry price, its exit watches, a take-profit exit through a flapping price, then
  a stop-loss), recorded by `WALLETFLOW_RECORD_HISTORIES=1 pytest
  tests/workflows/trade/test_exits.py`, before exit ids named the leader.
- `position-pos-…` and `trade-exit-pos-…-tp`: PositionWorkflow (a buy with exits: take-profit
  through a flapping price, then a stop-loss, then the end) and its take-profit trade,
  recorded by `WALLETFLOW_RECORD_HISTORIES=1 pytest
  tests/workflows/trade/test_exits.py -k buy_with_exits`.
- `webhooks-ep_…`: WebhookDeliveryWorkflow (an endpoint added, a test event delivered, the
  endpoint removed: the workflow ends), recorded by `WALLETFLOW_RECORD_HISTORIES=1 pytest
  tests/webhooks/test_delivery.py -k cli_adds`.
- `copy-operator-CoGXV…`: CopyTradeWorkflow with a trailing stop (two new highs raising it,
  then the exit, `exit-id-with-leader` patched in), recorded by
  `WALLETFLOW_RECORD_HISTORIES=1 pytest tests/workflows/trade/test_exits.py -k trailing`.
- `sweep-solana-…` and `deposit-address-solana-c-…`: SweepWorkflow (a USDC sweep that closes
  the emptied token account) and DepositAddressWorkflow, recorded by
  `WALLETFLOW_RECORD_HISTORIES=1 pytest tests/workflows/sweep/test_sweeps.py -k closes`;
  `sweep-tron-…` and `sweep-tron-…-delegate`: a USDT sweep with its steps (activate, lend
  energy, the transfer, take the energy back) and its delegation step, by `-k lent_or_topped`;
  `reconcile-…-now-…`: ReconcileWorkflow (differences found), by `-k reconcile`.
- `wallet-solana-HnXVN…`: WalletMonitorWorkflow with a transfer seen early and dropped, no
  chat told (the `dropped-webhooks` branch), by `WALLETFLOW_RECORD_HISTORIES=1 pytest
  tests/workflows/monitor/test_two_phase.py -k reaches_webhooks`.
- `policy-solana`: PolicyWorkflow (refused, accepted and replayed changes), recorded by
  `python -m tests.workflows.record_histories --policy`.
- `withdrawal-*` and `trade-*`: WithdrawalWorkflow and TradeWorkflow with stand-in activities, by
  `python -m tests.workflows.record_histories` (its docstring says how to record a new one when
  the workflow changes). `withdrawal-manual-review-prepatch` was recorded by the code before the
  `manual-review-keeps-decisions` patch (e2960b1^), so it replays the unpatched branch;
  `withdrawal-manual-review` the patched one. `withdrawal-signed-encrypted` was written with the
  payload codec on (record_histories.HISTORY_KEYS, a test-only key), as a worker with
  WALLETFLOW_CODEC_KEYS writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from temporalio.client import Client, WorkflowHistory
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer
from tronpy.keys import PrivateKey

from core import activity_names as act
from core import search_attributes as sa
from core.ids import monitor_id, watch_id
from core.models import MonitorState, Subscription, Unsubscribe, WatchState, WithdrawalStatus
from starter.client import monitors
from tests.support.ids import chat_id
from tests.support.monitor import (
    SOL,
    TRX,
    sol_key,
    sol_send_many,
    sol_wait_finalized,
    tron_address,
    tron_key,
    tron_send_many,
    wait_ready,
    wait_state,
    watch,
)
from tests.support.scan import strings
from tests.support.stack import Stack, eventually, settled_messages
from tests.workflows.record_histories import ENCRYPTED
from workflows.alert import PriceAlertWorkflow, PriceWatchWorkflow
from workflows.copy import CopyTradeWorkflow
from workflows.deposits import DepositAddressWorkflow
from workflows.monitor import WalletMonitorWorkflow
from workflows.policy import PolicyWorkflow
from workflows.position import PositionWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.sweep import SweepWorkflow
from workflows.watch import ChainWatchWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow
from workflows.withdrawal import KEEP_DECISIONS, SIGNED_INTENTS, TradeWorkflow, WithdrawalWorkflow

HISTORIES = Path(__file__).parent / "histories"


def replayer(converter: DataConverter = pydantic_data_converter) -> Replayer:
    return Replayer(
        workflows=[
            WalletMonitorWorkflow,
            ChainWatchWorkflow,
            WithdrawalWorkflow,
            TradeWorkflow,
            CopyTradeWorkflow,
            PositionWorkflow,
            PolicyWorkflow,
            PriceAlertWorkflow,
            PriceWatchWorkflow,
            WebhookDeliveryWorkflow,
            SweepWorkflow,
            DepositAddressWorkflow,
            ReconcileWorkflow,
        ],
        data_converter=converter,
    )


async def replay(
    histories: list[WorkflowHistory], converter: DataConverter = pydantic_data_converter
) -> None:
    for history in histories:
        # Raises on a non-determinism error (or any workflow task failure) during replay.
        result = await replayer(converter).replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None, history.workflow_id


async def all_runs(client: Client, workflow_id: str, run_id: str | None = None) -> list[Any]:
    """Every run of a workflow from `run_id` on, following continue-as-new."""
    histories = []
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return histories
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


def stored() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def converter_of(name: str) -> DataConverter:
    """What a history was written with: `*-encrypted` ones with the payload codec
    (record_histories.HISTORY_KEYS), the rest in clear."""
    return ENCRYPTED if "encrypted" in name else pydantic_data_converter


@pytest.mark.parametrize("path", stored(), ids=[p.stem for p in stored()])
async def test_committed_histories_replay(path: Path) -> None:
    await replay([load(path)], converter_of(path.stem))


# Turning the payload codec on needs no migration: histories written in clear replay on a
# worker that encrypts (its codec passes plaintext payloads through).
@pytest.mark.parametrize("path", stored(), ids=[p.stem for p in stored()])
async def test_committed_histories_replay_with_the_codec_on(path: Path) -> None:
    await replay([load(path)], ENCRYPTED)


def test_an_encrypted_history_keeps_the_destination_inside_its_payloads() -> None:
    text = (HISTORIES / "withdrawal-signed-encrypted.json").read_text()
    assert "Recipient1111" not in "\n".join(strings(json.loads(text)))
    assert "WalletflowAddress" not in text  # never upserted: search attributes are clear
    assert "WalletflowAddress" in (HISTORIES / "withdrawal-signed-confirmed.json").read_text()


# How each committed withdrawal ended: the scenarios of record_histories.py.
MONEY_MOVES = {
    "withdrawal-confirmed": "confirmed",
    "withdrawal-resigned": "confirmed",  # version 1 expired unlanded, version 2 landed
    "withdrawal-approved": "confirmed",
    "withdrawal-rejected": "rejected",
    "withdrawal-cancelled": "cancelled",
    "withdrawal-manual-review": "confirmed",  # settled during a recheck: kept (patched)
    "withdrawal-manual-review-prepatch": "confirmed",  # that settle dropped, a second one
    # Signed intents: decisions are signed updates, verified against the roster.
    "withdrawal-signed-confirmed": "confirmed",
    "withdrawal-signed-unsigned": "rejected",  # no statement: refused before anything
    "withdrawal-signed-approved": "confirmed",  # 2 of N, with refusals on the way
    "withdrawal-signed-rejected": "rejected",
    "withdrawal-signed-cancelled": "cancelled",
    "withdrawal-signed-manual-review": "confirmed",  # resolved by an admin's signed updates
    # Frozen at reserve, at sign, and at broadcast (version 1 held, proven dead): version 2.
    "withdrawal-signed-frozen": "confirmed",
    # The payload codec on: encrypted, and no WalletflowAddress.
    "withdrawal-signed-encrypted": "confirmed",
    # Trades: TradeWorkflow, the same state machine with a swap for a transaction.
    "trade-confirmed": "confirmed",  # with its fill
    "trade-requoted": "confirmed",  # version 1 expired unlanded: a new quote, version 2
    "trade-venue-refused": "failed",  # the venue refused the second quote: released
}


def test_there_are_committed_histories() -> None:
    names = {p.stem for p in stored()}
    # Copy trading: a copy that bought and sold, and one of its copied trades.
    assert any(n.startswith("copy-") for n in names) and any(
        n.startswith("trade-copy-") for n in names
    )
    assert {"solana-monitor-0", "solana-monitor-1", "tron-monitor-0", "solana-watch-0"} <= names
    assert {"tron-watch-0", "policy-solana", *MONEY_MOVES} <= names
    assert any(n.startswith("position-") for n in names)  # a buy with exits
    assert any(n.startswith("webhooks-") for n in names)  # an endpoint's deliveries


def test_a_committed_monitor_history_holds_both_phases() -> None:
    """The two-phase histories exercise the new paths: `seen` signals, early peeks, edits."""
    signals, activities = set(), set()
    for path in HISTORIES.glob("solana-monitor-two-phase-*.json"):
        for event in load(path).events:
            if event.HasField("workflow_execution_signaled_event_attributes"):
                signals.add(event.workflow_execution_signaled_event_attributes.signal_name)
            if event.HasField("activity_task_scheduled_event_attributes"):
                activities.add(event.activity_task_scheduled_event_attributes.activity_type.name)
    assert "seen" in signals
    assert {act.PEEK_EVENTS, act.CONCLUDE_NOTIFICATION} <= activities


def workflow_type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


@pytest.mark.parametrize("name", sorted(MONEY_MOVES))
async def test_withdrawal_histories_end_as_recorded(name: str) -> None:
    history = load(HISTORIES / f"{name}.json")
    assert workflow_type(history) == (
        "TradeWorkflow" if name.startswith("trade-") else "WithdrawalWorkflow"
    )
    last = history.events[-1]
    assert last.HasField("workflow_execution_completed_event_attributes"), last
    payloads = last.workflow_execution_completed_event_attributes.result.payloads
    [result] = await converter_of(name).decode(payloads, [WithdrawalStatus])
    assert result.status == MONEY_MOVES[name], result


async def patches(history: WorkflowHistory) -> list[str]:
    """The `workflow.patched` ids recorded in a history."""
    found = []
    for event in history.events:
        attrs = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and attrs.marker_name == "core_patch":
            [data] = await converter_of(history.workflow_id).decode(
                attrs.details["patch-data"].payloads, [dict]
            )
            found.append(data["id"])
    return found


def resolves(history: WorkflowHistory) -> int:
    return sum(
        1
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
        and e.workflow_execution_signaled_event_attributes.signal_name == "resolve"
    )


async def test_manual_review_histories_take_both_branches_of_the_patch() -> None:
    """Replayed above; here: one history per branch of `workflow.patched(KEEP_DECISIONS)`."""
    patched = load(HISTORIES / "withdrawal-manual-review.json")
    unpatched = load(HISTORIES / "withdrawal-manual-review-prepatch.json")
    assert await patches(patched) == [KEEP_DECISIONS]
    assert await patches(unpatched) == []
    # recheck + settle (kept) / recheck + settle (dropped during the recheck) + settle again
    assert (resolves(patched), resolves(unpatched)) == (2, 3)


def updates(history: WorkflowHistory) -> list[str]:
    """The names of the updates a history accepted."""
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]


async def test_withdrawal_histories_take_both_branches_of_signed_intents() -> None:
    """Histories from before signed intents replay through the signals of old (no marker);
    the `signed-*` ones through signed updates (the marker, and updates in history)."""
    for name in MONEY_MOVES:
        history = load(HISTORIES / f"{name}.json")
        signed = SIGNED_INTENTS in await patches(history)
        assert signed == name.startswith(("withdrawal-signed-", "trade-")), name
        if not signed:
            assert updates(history) == [], name
    approved = load(HISTORIES / "withdrawal-signed-approved.json")
    # alice (no approver), bob, bob's statement replayed, bob again, carol: each an update
    assert updates(approved) == ["approve"] * 5
    assert updates(load(HISTORIES / "withdrawal-signed-manual-review.json")) == ["resolve"] * 3


async def test_fresh_histories_of_a_real_run_replay(stack: Stack) -> None:
    settings, client = stack.settings, stack.client
    triggers = {
        chain: await client.start_workflow(
            ChainWatchWorkflow.run,
            WatchState(chain=chain, round_seconds=1),
            id=f"replay-{watch_id(settings.task_queue(chain))}",
            task_queue=settings.task_queue(chain),
        )
        for chain in ("solana", "tron")
    }
    funder, chat, other = sol_key(stack.solana, 11), chat_id(), chat_id()
    address = str(Keypair().pubkey())
    workflow_id = monitor_id("solana", address)
    # As `walletflow watch` starts it, with a low history limit so that it continues as new.
    handle = await client.start_workflow(
        WalletMonitorWorkflow.run,
        MonitorState(
            chain="solana",
            address=address,
            notify_queue=settings.task_queue("notify"),
            reconcile_seconds=settings.reconcile_seconds,
            history_limit=60,
        ),
        id=workflow_id,
        task_queue=settings.task_queue("solana"),
        start_signal="subscribe",
        start_signal_args=[Subscription(chat_id=chat, label="replay")],
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CHAIN, "solana"),
                SearchAttributePair(sa.ADDRESS, address),
                SearchAttributePair(sa.STATUS, "running"),
            ]
        ),
    )
    first_run = handle.first_execution_run_id or handle.result_run_id
    await wait_ready(handle)

    sigs = await sol_send_many(stack.solana.url, funder, address, [SOL])
    await settled_messages(stack.telegram, chat, 1, quiet=0.2)
    await monitors.signal_monitor(client, "solana", address, "pause")
    await wait_state(handle, "paused")
    sigs += await sol_send_many(stack.solana.url, funder, address, [SOL + i for i in range(1, 5)])
    await sol_wait_finalized(stack.solana.url, sigs)
    await monitors.signal_monitor(client, "solana", address, "resume")
    await settled_messages(stack.telegram, chat, 2, quiet=0.2)  # the digest
    await handle.signal(WalletMonitorWorkflow.subscribe, Subscription(chat_id=other))
    await settled_messages(stack.telegram, chat, 2, quiet=0.5)
    for i in range(6):
        sigs += await sol_send_many(stack.solana.url, funder, address, [2 * SOL + i])
        await settled_messages(stack.telegram, other, i + 1, quiet=0.2)
    await handle.signal(WalletMonitorWorkflow.unsubscribe, Unsubscribe(chat_id=other))
    sigs += await sol_send_many(stack.solana.url, funder, address, [3 * SOL])
    await settled_messages(stack.telegram, chat, 9, quiet=0.5)  # 1 + digest + 6 + 1
    await monitors.signal_monitor(client, "solana", address, "stop")
    await client.get_workflow_handle(workflow_id).result()
    solana_runs = await all_runs(client, workflow_id, first_run)
    assert len(solana_runs) >= 2, "the scenario should have continued as new"

    tron_funder, tron_chat = tron_key(stack.tron, 11), chat_id()
    tron_wallet = tron_address(PrivateKey.random())
    tron_handle = await watch(client, settings, "tron", tron_wallet, tron_chat)
    await tron_send_many(stack.tron.url, tron_funder, tron_wallet, [5 * TRX, 6 * TRX])
    await settled_messages(stack.telegram, tron_chat, 2, quiet=0.5)
    await monitors.signal_monitor(client, "tron", tron_wallet, "stop")
    await tron_handle.result()
    tron_runs = await all_runs(client, monitor_id("tron", tron_wallet))

    # The triggers: extra ones with one-second rounds, so their histories hold many rounds.
    async def rounds_done() -> bool:
        for handle in triggers.values():
            history = await handle.fetch_history()
            completed = [
                e for e in history.events if e.HasField("activity_task_completed_event_attributes")
            ]
            if len(completed) < 3:
                return False
        return True

    await eventually(rounds_done)
    trigger_runs = {}
    for chain, trigger in triggers.items():
        await trigger.terminate("recorded")
        trigger_runs[chain] = await all_runs(client, trigger.id, trigger.first_execution_run_id)
    await replay([*solana_runs, *tron_runs, *[h for r in trigger_runs.values() for h in r]])

    # WALLETFLOW_RECORD_HISTORIES=SUFFIX writes them as `solana-monitor-SUFFIX-0`, ... (=1: no
    # suffix): record a changed workflow under a new suffix and keep the older files.
    record = os.environ.get("WALLETFLOW_RECORD_HISTORIES")
    if record:
        HISTORIES.mkdir(exist_ok=True)
        tag = "" if record == "1" else f"{record}-"
        named = {f"solana-monitor-{tag}{i}": h for i, h in enumerate(solana_runs)}
        named |= {f"tron-monitor-{tag}{i}": h for i, h in enumerate(tron_runs)}
        for chain, runs in trigger_runs.items():
            named |= {f"{chain}-watch-{tag}{i}": h for i, h in enumerate(runs)}
        for name, history in named.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json() + "\n")


def test_a_committed_leader_history_signals_its_copiers() -> None:
    """The leader's monitor beside the copy history told it each swap, early and final."""
    stems = {p.stem for p in stored()}
    [path] = [
        p
        for p in stored()
        if p.stem.startswith("wallet-solana-")
        and f"copy-operator-{p.stem.removeprefix('wallet-solana-')}" in stems
    ]
    history = load(path)
    told = [
        e.signal_external_workflow_execution_initiated_event_attributes
        for e in history.events
        if e.HasField("signal_external_workflow_execution_initiated_event_attributes")
    ]
    assert {t.signal_name for t in told} == {"leader_swap"}
    beside = f"copy-operator-{path.stem.removeprefix('wallet-solana-')}"
    assert beside in {p.stem for p in stored()}
    assert {t.workflow_execution.workflow_id for t in told} == {beside}
    assert len(told) == 4  # two swaps, each early (confirmed) and again at finality
