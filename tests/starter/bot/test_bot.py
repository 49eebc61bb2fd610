"""The Telegram bot end to end: commands injected into the stand-in, replies read back, the
workflows they start checked in Temporal and on the devnets."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from solders.keypair import Keypair
from temporalio.client import Client

from chains import solana as sol
from core import texts
from core.ids import monitor_id
from core.models import MonitorStatus
from starter.client import withdrawals
from store import wallets as wallet_store
from tests.support.bot import (
    ADMIN,
    APPROVER,
    CAREFUL_OPERATOR,
    OPERATOR,
    OPERATOR_APPROVER,
    STRANGER,
    UNLISTED,
    Harness,
    buttons,
    request_id_in,
)
from tests.support.chain_tx import sol_account, sol_send
from tests.support.ids import chat_id
from tests.support.stack import Stack, eventually
from tests.support.withdrawals import fresh_tron_address, sol_balance
from workflows.monitor import WalletMonitorWorkflow

SOL = 10**9
FUNDER = 14  # devnet account paying the test transfers (not the hot wallet, 19)


async def monitor_state(stack: Stack, address: str) -> MonitorStatus:
    handle = stack.client.get_workflow_handle(monitor_id("solana", address))
    status: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
    return status


async def started_since(client: Client, since: datetime, queues: list[str]) -> list[str]:
    by_queue = " OR ".join(f"TaskQueue = '{q}'" for q in queues)
    query = f"StartTime > '{since.isoformat()}' AND ({by_queue})"
    return [wf.id async for wf in client.list_workflows(query)]


# ---- wallets ---------------------------------------------------------------------------------


async def test_watch_then_a_transfer_notifies_the_chat_once(stack: Stack, harness: Harness) -> None:
    chat, address = chat_id(), str(Keypair().pubkey())
    since = await harness.mark()
    await harness.send(chat, f"/watch solana {address} <b>Cold</b> & co")
    [reply] = await harness.wait(chat, 1, since=since)
    # The label is echoed literally: escaped, not interpreted as markup.
    assert "Watching <b>Cold</b> & co · solana wallet" in reply["plain_text"], reply
    assert address in reply["plain_text"]

    async def ready() -> bool:
        return (await monitor_state(stack, address)).cursor is not None

    await eventually(ready)
    await sol_send(
        stack.solana.url, sol_account(stack.solana, FUNDER), address, sol.NATIVE, 2 * SOL
    )
    got = await harness.settled(chat, 2, since=since)
    assert len(got) == 2, [m["plain_text"] for m in got]
    assert "Received 2 SOL" in got[1]["plain_text"]
    assert "<b>Cold</b> & co" in got[1]["plain_text"]


async def test_list_pause_resume_unwatch(
    stack: Stack, harness: Harness, pool: asyncpg.Pool
) -> None:
    chat, address = chat_id(), str(Keypair().pubkey())
    assert "Watching" in await harness.ask(chat, f"/watch solana {address} Ops")
    await eventually(lambda: wallet_store.subscriptions_of_chat(pool, chat))

    since = await harness.mark()
    await harness.send(chat, "/list")
    [listing] = await harness.wait(chat, 1, since=since)
    assert "1. Ops · solana" in listing["plain_text"] and "running" in listing["plain_text"]
    pause = f"mon:pause:solana:{address}"
    assert buttons(listing) == [pause]

    query = await harness.press(chat, pause, message_id=listing["message_id"])
    assert (await harness.answer(query))["text"] == "Paused"

    async def state_is(state: str) -> bool:
        return (await monitor_state(stack, address)).state == state

    await eventually(lambda: state_is("paused"))
    listing = await harness.edited(chat, listing)
    assert buttons(listing) == [f"mon:resume:solana:{address}"]
    assert "paused" in listing["plain_text"]

    # Another chat can't steer a wallet it doesn't watch.
    other = chat_id()
    refused = await harness.ask(other, f"/resume solana {address}")
    assert "this chat does not watch" in refused
    assert (await monitor_state(stack, address)).state == "paused"

    assert "Resumed" in await harness.ask(chat, f"/resume solana {address}")
    await eventually(lambda: state_is("running"))
    assert "State: ▶️ running" in await harness.ask(chat, f"/status {address}")

    assert "no longer watches" in await harness.ask(chat, f"/unwatch solana {address}")

    async def gone() -> bool:
        return "is not watched" in await harness.ask(chat, f"/status solana {address}")

    await eventually(gone)


# ---- withdrawals -----------------------------------------------------------------------------


async def request_and_confirm(harness: Harness, user: int, command: str) -> tuple[str, int]:
    """/withdraw, then Confirm on the summary; returns (request id, index before)."""
    since = await harness.mark()
    await harness.send(user, command)
    [summary] = await harness.wait(user, 1, since=since)
    rid = request_id_in(summary["plain_text"])
    assert buttons(summary) == [f"wdc:go:{rid}", f"wdc:drop:{rid}"]
    query = await harness.press(user, f"wdc:go:{rid}", message_id=summary["message_id"])
    assert (await harness.answer(query))["text"] == "Started"
    return rid, since


async def approval_message(harness: Harness, approver: int, rid: str, since: int) -> Any:
    return await harness.wait_for(
        approver, lambda m: f"wd:approve:{rid}" in buttons(m), since=since
    )


async def test_withdrawal_approved_by_another_approver(stack: Stack, harness: Harness) -> None:
    to = str(Keypair().pubkey())
    since = await harness.mark()
    await harness.send(OPERATOR, f"/withdraw solana SOL {to} 12")
    [summary] = await harness.wait(OPERATOR, 1, since=since)
    text = summary["plain_text"]
    assert "Send 12 SOL on solana" in text and to in text
    assert "Network fee: ≈ 0.000005 SOL" in text
    assert "Approval: needed (above 10 SOL)" in text
    rid = request_id_in(text)

    # Only the requester may confirm it, even another operator seeing it in a shared chat.
    query = await harness.press(
        OPERATOR, f"wdc:go:{rid}", user=OPERATOR_APPROVER, message_id=summary["message_id"]
    )
    assert (await harness.answer(query))[
        "text"
    ] == "Only the requester can confirm this withdrawal."
    query = await harness.press(OPERATOR, f"wdc:go:{rid}", message_id=summary["message_id"])
    assert (await harness.answer(query))["text"] == "Started"
    summary = await harness.edited(OPERATOR, summary)
    assert f"Started as withdrawal-{rid}" in summary["plain_text"] and not buttons(summary)

    approval = await approval_message(harness, APPROVER, rid, since)
    assert "Withdrawal needs approval" in approval["plain_text"]

    # Someone outside the approvers pressing Approve (say, in a shared chat) is refused.
    query = await harness.press(
        APPROVER, f"wd:approve:{rid}", user=STRANGER, message_id=approval["message_id"]
    )
    answer = await harness.answer(query)
    assert answer["text"].startswith("⛔ Only approvers") and answer["show_alert"]
    assert (await withdrawals.status(stack.client, rid)).status == "awaiting_approval"

    query = await harness.press(APPROVER, f"wd:approve:{rid}", message_id=approval["message_id"])
    assert (await harness.answer(query))["text"] == "✅ Approved"
    done = await harness.wait_for(
        OPERATOR, lambda m: f"Withdrawal {rid} confirmed" in m["plain_text"], since=since
    )
    assert "Tx:" in done["plain_text"]
    assert await sol_balance(stack, to) == 12 * SOL
    status = await withdrawals.status(stack.client, rid)
    assert status.approved_by == [f"tg:{APPROVER}"] and status.requested_by == f"tg:{OPERATOR}"
    approval = await harness.edited(APPROVER, approval)
    assert "Approved by" in approval["plain_text"] and not buttons(approval)


async def test_withdraw_is_refused_to_a_user_without_the_operator_role(
    stack: Stack, harness: Harness
) -> None:
    since = datetime.now(UTC)
    to = str(Keypair().pubkey())
    reply = await harness.ask(STRANGER, f"/withdraw solana SOL {to} 12")
    assert "Only operators may do this" in reply and "TELEGRAM_OPERATORS" in reply
    assert str(STRANGER) in reply  # the id an admin needs
    # Approvers and admins are not operators either.
    assert "Only operators" in await harness.ask(APPROVER, f"/withdraw solana SOL {to} 12")
    await asyncio.sleep(1)
    queues = [stack.settings.task_queue(q) for q in ("solana", "tron")]
    assert await started_since(stack.client, since, queues) == []
    assert "Only admins" in await harness.ask(STRANGER, "/workers")
    assert "Only admins" in await harness.ask(OPERATOR, "/sweeps")


async def test_the_requester_cannot_approve_their_own_withdrawal(
    stack: Stack, harness: Harness
) -> None:
    to = str(Keypair().pubkey())
    rid, since = await request_and_confirm(
        harness, OPERATOR_APPROVER, f"/withdraw solana SOL {to} 11"
    )
    mine = await approval_message(harness, OPERATOR_APPROVER, rid, since)
    query = await harness.press(
        OPERATOR_APPROVER, f"wd:approve:{rid}", message_id=mine["message_id"]
    )
    answer = await harness.answer(query)
    # The workflow's answer to the statement the bot signed for the user.
    self_approval = f"self-approval by tg:{OPERATOR_APPROVER}: the requester never counts"
    assert answer["text"].startswith(f"⛔ Refused: {self_approval}") and answer["show_alert"]
    await harness.wait_for(
        OPERATOR_APPROVER,
        lambda m: f"Approve of withdrawal {rid} refused: {self_approval}" in m["plain_text"],
        since=since,
    )
    status = await withdrawals.status(stack.client, rid)
    assert status.status == "awaiting_approval" and status.approved_by == []

    # Another approver rejects it; the requester hears the outcome.
    theirs = await approval_message(harness, APPROVER, rid, since)
    query = await harness.press(APPROVER, f"wd:reject:{rid}", message_id=theirs["message_id"])
    assert (await harness.answer(query))["text"] == "❌ Rejected"
    await harness.wait_for(
        OPERATOR_APPROVER, lambda m: f"Withdrawal {rid} rejected" in m["plain_text"], since=since
    )
    assert await sol_balance(stack, to) == 0


async def test_the_roster_decides_whom_the_bot_may_sign_for(
    stack: Stack, harness: Harness, pool: asyncpg.Pool
) -> None:
    """UNLISTED passes the settings' role filter as an operator and an approver, but the
    roster does not list it for the bot: its withdrawal and its approval are refused."""
    to, pending = str(Keypair().pubkey()), len(harness.dp["pending"])
    reply = await harness.ask(UNLISTED, f"/withdraw solana SOL {to} 12")
    assert f"refused: 'bot' may not sign for 'tg:{UNLISTED}'" in reply, reply
    assert len(harness.dp["pending"]) == pending  # no summary, nothing to confirm
    requested = f"WalletflowRequestedBy = 'tg:{UNLISTED}'"
    await asyncio.sleep(1)
    assert [wf.id async for wf in stack.client.list_workflows(requested)] == []

    # An approval request reaches it (TELEGRAM_APPROVERS), but its Approve is refused.
    rid, since_index = await request_and_confirm(harness, OPERATOR, f"/withdraw solana SOL {to} 11")
    offered = await approval_message(harness, UNLISTED, rid, since_index)
    query = await harness.press(UNLISTED, f"wd:approve:{rid}", message_id=offered["message_id"])
    answer = await harness.answer(query)
    assert answer["text"] == f"⛔ Refused: 'bot' may not sign for 'tg:{UNLISTED}'", answer
    assert answer["show_alert"]
    status = await withdrawals.status(stack.client, rid)
    assert status.status == "awaiting_approval" and status.approved_by == []
    refused = await pool.fetch(
        "SELECT actor, principal, outcome, reason FROM audit_log WHERE subject = $1 "
        "AND action = 'withdrawal.approve'",
        f"withdrawal:{rid}",
    )
    assert [(r["actor"], r["principal"], r["outcome"]) for r in refused] == [
        (f"tg:{UNLISTED}", "bot", "refused")
    ]

    # A listed approver's press is accepted, and the money moves.
    theirs = await approval_message(harness, APPROVER, rid, since_index)
    query = await harness.press(APPROVER, f"wd:approve:{rid}", message_id=theirs["message_id"])
    assert (await harness.answer(query))["text"] == "✅ Approved"
    result = await withdrawals.handle(stack.client, rid).result()
    assert result.status == "confirmed" and result.approved_by == [f"tg:{APPROVER}"]


async def test_a_long_request_id_gets_buttons_within_64_bytes(
    stack: Stack, harness: Harness
) -> None:
    """Telegram refuses callback data over 64 bytes: a 64-character request id is carried as
    a hash the bot maps back through the withdrawals awaiting approval."""
    to = str(Keypair().pubkey())
    rid = f"long-{uuid.uuid4().hex}-{uuid.uuid4().hex}"[:64]
    req = withdrawals.build_request(
        stack.settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount="11",
        request_id=rid,
        requested_by="",
        notify_chat=OPERATOR,
    )
    since = await harness.mark()
    by = stack.signer("bot").acting_for(f"tg:{OPERATOR}")
    assert (await withdrawals.start(stack.client, stack.settings, req, by))[1]
    data = texts.decision_button("approve", rid)
    assert data == f"wd:approve:{texts.request_ref(rid)}" and len(data.encode()) <= 64
    assert texts.decision_button("approve", "tg-0123456789ab") == "wd:approve:tg-0123456789ab"
    offered = await harness.wait_for(APPROVER, lambda m: data in buttons(m), since=since)
    assert rid in offered["plain_text"]
    query = await harness.press(APPROVER, data, message_id=offered["message_id"])
    assert (await harness.answer(query))["text"] == "✅ Approved"
    result = await withdrawals.handle(stack.client, rid).result()
    assert result.status == "confirmed" and result.approved_by == [f"tg:{APPROVER}"]
    assert await sol_balance(stack, to) == 11 * SOL
    # Pressed again once it is no longer awaiting approval: refused, nothing happens.
    query = await harness.press(APPROVER, data, message_id=offered["message_id"])
    answer = await harness.answer(query)
    assert "no longer awaiting approval" in answer["text"], answer


async def test_status_and_cancel_of_a_tron_withdrawal(stack: Stack, harness: Harness) -> None:
    to = fresh_tron_address()
    since = await harness.mark()
    await harness.send(OPERATOR, f"/withdraw tron TRX {to} 10001")
    [summary] = await harness.wait(OPERATOR, 1, since=since)
    assert "includes 1.1 TRX to activate the new recipient account" in summary["plain_text"]
    rid = request_id_in(summary["plain_text"])
    await harness.press(OPERATOR, f"wdc:go:{rid}", message_id=summary["message_id"])
    await approval_message(harness, APPROVER, rid, since)

    shown = await harness.ask(OPERATOR, f"/status {rid}")
    assert f"Withdrawal {rid} — awaiting_approval" in shown and "10001 TRX on tron" in shown
    # Request ids are for staff: a stranger learns nothing about them.
    assert "Only operators, approvers or admins" in await harness.ask(STRANGER, f"/status {rid}")
    # The bot's reply and the workflow's outcome message race each other into the chat.
    sent = await harness.mark()
    await harness.send(OPERATOR, f"/cancel {rid} wrong <address>")
    await harness.wait_for(
        OPERATOR,
        lambda m: f"Cancel accepted for withdrawal withdrawal-{rid}" in m["plain_text"],
        since=sent,
    )
    outcome = await harness.wait_for(
        OPERATOR, lambda m: f"Withdrawal {rid} cancelled" in m["plain_text"], since=since
    )
    assert f"cancelled by tg:{OPERATOR}: wrong <address>" in outcome["plain_text"]


async def test_a_withdrawal_summary_can_be_cancelled(stack: Stack, harness: Harness) -> None:
    since = await harness.mark()
    to = fresh_tron_address()
    await harness.send(OPERATOR, f"/withdraw tron USDT {to} 5")
    [summary] = await harness.wait(OPERATOR, 1, since=since)
    assert "energy burned as TRX" in summary["plain_text"]
    assert "Approval: not needed" in summary["plain_text"]
    rid = request_id_in(summary["plain_text"])
    query = await harness.press(OPERATOR, f"wdc:drop:{rid}", message_id=summary["message_id"])
    assert (await harness.answer(query))["text"] == "Not sent"
    # Pressing Confirm afterwards (an old client, a double tap) starts nothing.
    query = await harness.press(OPERATOR, f"wdc:go:{rid}", message_id=summary["message_id"])
    assert "expired or was already answered" in (await harness.answer(query))["text"]
    await asyncio.sleep(1)
    with pytest.raises(Exception, match="no withdrawal"):
        await withdrawals.status(stack.client, rid)


# ---- bad input -------------------------------------------------------------------------------

SOLANA_ADDRESS = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
TRON_ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
HOT_SOLANA = "{hot}"  # filled in with the stack's hot wallet

BAD_INPUT = [
    ("/watch", "Usage: /watch CHAIN ADDRESS [label]"),
    ("/watch solana", "missing the address after solana"),
    (f"/watch {SOLANA_ADDRESS}", "missing the chain: that is a solana address"),
    ("/watch dogecoin abc", "unknown chain 'dogecoin': expected one of solana, tron"),
    ("/watch abc", "unknown chain 'abc'"),
    ("/watch solana <script>x</script>", "'<script>x</script>' is not a Solana address"),
    (f"/watch tron {SOLANA_ADDRESS}", "is not a TRON address"),
    (f"/watch solana {TRON_ADDRESS}", "(that looks like a TRON address)"),
    (f"/watch solana {SOLANA_ADDRESS} {'x' * 70}", "label is too long"),
    (f"/unwatch solana {SOLANA_ADDRESS}", "is not watched"),
    (f"/pause tron {TRON_ADDRESS}", "is not watched"),
    (f"/pause tron {TRON_ADDRESS} now", "unexpected 'now' after the address"),
    ("/resume", "Usage: /resume CHAIN ADDRESS"),
    ("/status", "Usage: /status ADDRESS"),
    ("/status no-such-request", "no withdrawal with request id 'no-such-request'"),
    ("/withdraw", "Usage: /withdraw CHAIN ASSET TO AMOUNT"),
    (f"/withdraw solana SOL {SOLANA_ADDRESS}", "missing AMOUNT"),
    (f"/withdraw solana SOL {SOLANA_ADDRESS} 1 extra", "unexpected 'extra' after AMOUNT"),
    (f"/withdraw solana DOGE {SOLANA_ADDRESS} 1", "unknown asset 'DOGE' on solana: listed are SOL"),
    (f"/withdraw solana SOL {SOLANA_ADDRESS} -1", "amount must be greater than 0"),
    (f"/withdraw solana SOL {SOLANA_ADDRESS} abc", "amount 'abc' is not a number"),
    (f"/withdraw solana SOL {SOLANA_ADDRESS} 0.0000000001", "more than 9 decimal places"),
    (f"/withdraw tron USDT {SOLANA_ADDRESS} 5", "is not a TRON address"),
    ("/withdraw bitcoin BTC x 1", "unknown chain 'bitcoin'"),
    (f"/withdraw solana SOL {HOT_SOLANA} 1", "the destination is the hot wallet itself"),
    ("/cancel", "Usage: /cancel REQUEST_ID"),
    ("/cancel nope", "no withdrawal with request id 'nope'"),
    ("/frobnicate now", "Unknown command /frobnicate"),
]


async def test_bad_arguments_get_a_useful_answer_and_start_nothing(
    stack: Stack, harness: Harness
) -> None:
    since, pending = datetime.now(UTC), len(harness.dp["pending"])
    for command, expected in BAD_INPUT:
        # A chat each: one chat's flood limit (1 message/s) would make this slow, not wrong.
        command = command.replace(HOT_SOLANA, stack.settings.solana_hot_wallet or "")
        reply = await harness.ask(chat_id(), command, user=CAREFUL_OPERATOR)
        assert expected in reply, (command, reply)
    await asyncio.sleep(1)  # visibility is eventually consistent
    queues = [stack.settings.task_queue(q) for q in ("solana", "tron", "notify")]
    assert await started_since(stack.client, since, queues) == []
    assert len(harness.dp["pending"]) == pending
    requested = f"WalletflowRequestedBy = 'tg:{CAREFUL_OPERATOR}'"
    assert [wf.id async for wf in stack.client.list_workflows(requested)] == []


async def test_help_shows_what_the_user_may_do(harness: Harness) -> None:
    stranger = await harness.ask(STRANGER, "/help")
    assert "/watch CHAIN ADDRESS" in stranger and "/withdraw" not in stranger
    operator = await harness.ask(OPERATOR, "/help")
    assert "/withdraw CHAIN ASSET TO AMOUNT" in operator and "/workers" not in operator
    admin = await harness.ask(ADMIN, "/workers")
    assert "Workers" in admin and stack_queue_named(admin)
    assert "sweeps — the last sweeps" in await harness.ask(ADMIN, "/help")
    assert await harness.ask(ADMIN, "/sweeps") == "No sweeps yet."


def stack_queue_named(text: str) -> bool:
    return "solana workflow:" in text and "notify activity:" in text and "poller(s)" in text


# ---- flood control -----------------------------------------------------------------------------


async def test_a_429_storm_delays_replies_but_each_arrives_once(
    harness: Harness, telegram: Any
) -> None:
    chats = [chat_id() for _ in range(3)]
    since, retried = await harness.mark(), harness.retry.retries
    # Half of all Bot API calls refused, on top of the per-chat limit (3 at once, then 1/s).
    telegram.faults.update({"rate_429": 0.5, "retry_after": 1, "seed": 616})
    started = time.monotonic()
    for n in range(4):
        for chat in chats:
            await harness.send(chat, f"/status nothing-{n}")
    for chat in chats:
        await harness.wait(chat, 4, since=since, timeout=90)
    elapsed = time.monotonic() - started
    telegram.faults.update({"rate_429": 0})
    await asyncio.sleep(3)
    for chat in chats:
        texts = [m["plain_text"] for m in await harness.messages(chat, since)]
        assert len(texts) == 4, texts
        for n in range(4):
            assert sum(f"'nothing-{n}' is not a wallet address" in t for t in texts) == 1, texts
    assert harness.retry.retries > retried
    assert elapsed > 1
