"""Solana monitoring end to end: devnet transfers -> monitor workflow -> Telegram stand-in."""

from __future__ import annotations

import asyncpg
from solders.keypair import Keypair

from core.ids import monitor_id
from core.models import MonitorStatus, Subscription
from starter.client import monitors
from tests.support.chain_tx import sol_account, sol_send, usdc
from tests.support.ids import chat_id
from tests.support.stack import Stack, eventually, settled_messages
from workflows.monitor import WalletMonitorWorkflow

SOL = 10**9


async def watch(stack: Stack, address: str, chat: int, **filters: object) -> None:
    sub = Subscription(chat_id=chat, label="hot", **filters)
    await monitors.watch(stack.client, stack.settings, "solana", address, sub)
    handle = stack.client.get_workflow_handle(monitor_id("solana", address))

    async def ready() -> bool:
        status: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
        return status.cursor is not None

    await eventually(ready)


async def test_sol_in_and_out_notify_once_each(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, wallet, chat = sol_account(stack.solana, 0), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, address, chat)
    native = stack.settings.tokens("solana").native

    await sol_send(stack.solana.url, funder, address, native, 2 * SOL)
    [received] = await settled_messages(stack.telegram, chat, 1)
    assert "Received 2 SOL ≈ $300.00 (SOL $150.00, " in received["plain_text"]  # devnet prices
    assert str(funder.pubkey()) in received["plain_text"]

    await sol_send(stack.solana.url, wallet, str(funder.pubkey()), native, SOL // 2)
    got = await settled_messages(stack.telegram, chat, 2)
    assert len(got) == 2 and "Sent 0.5 SOL" in got[1]["plain_text"]

    rows = await pool.fetch(
        "SELECT direction, amount FROM wallet_events WHERE wallet = $1 ORDER BY block", address
    )
    assert [(r["direction"], int(r["amount"])) for r in rows] == [
        ("in", 2 * SOL),
        ("out", SOL // 2),
    ]


async def test_spl_into_a_new_ata(stack: Stack) -> None:
    funder, wallet, chat = sol_account(stack.solana, 1), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, address, chat)
    token = usdc(stack.solana)
    # The ATA doesn't exist yet: the transfer creates it (owner key is in the creating tx).
    await sol_send(stack.solana.url, funder, address, token, 12_500_000)
    [first] = await settled_messages(stack.telegram, chat, 1)
    assert "Received 12.5 USDC" in first["plain_text"]
    # Into the now-existing ATA: the owner's key is not in this transaction at all.
    await sol_send(stack.solana.url, funder, address, token, 1_000_000)
    got = await settled_messages(stack.telegram, chat, 2)
    assert len(got) == 2 and "Received 1 USDC" in got[1]["plain_text"]


async def test_filters_drop_what_a_chat_did_not_ask_for(stack: Stack) -> None:
    funder, wallet, chat = sol_account(stack.solana, 2), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, address, chat, min_amount="1", assets=["SOL"])
    native = stack.settings.tokens("solana").native
    await sol_send(stack.solana.url, funder, address, native, SOL // 10)  # below min amount
    await sol_send(stack.solana.url, funder, address, usdc(stack.solana), 5_000_000)  # not SOL
    await sol_send(stack.solana.url, funder, address, native, 3 * SOL)
    got = await settled_messages(stack.telegram, chat, 1, quiet=3)
    assert len(got) == 1 and "Received 3 SOL" in got[0]["plain_text"]
