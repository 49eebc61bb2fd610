"""TRON monitoring end to end: TRX and TRC20 in and out, one notification each."""

from __future__ import annotations

import asyncpg
from tronpy import AsyncTron
from tronpy.keys import PrivateKey
from tronpy.providers.async_http import AsyncHTTPProvider

from core.ids import monitor_id
from core.models import MonitorStatus, Subscription
from starter.client import monitors
from tests.support.ids import chat_id
from tests.support.stack import Stack, eventually, settled_messages
from workflows.monitor import WalletMonitorWorkflow

TRX = 10**6


def tron_key(stack: Stack, index: int) -> PrivateKey:
    return PrivateKey(bytes.fromhex(stack.tron.info()["accounts"][index]["private_key"]))


async def send_trx(
    stack: Stack, key: PrivateKey, to: str, amount: int, *, solid: bool = False
) -> str:
    async with AsyncTron(AsyncHTTPProvider(stack.tron.url)) as client:
        sender = key.public_key.to_base58check_address()
        tx = await client.trx.transfer(sender, to, amount).build()
        result = await tx.sign(key).broadcast()
        if solid:
            await result.wait(timeout=30, interval=0.2, solid=True)
        return str(result["txid"])


async def send_usdt(stack: Stack, key: PrivateKey, to: str, amount: int) -> str:
    async with AsyncTron(AsyncHTTPProvider(stack.tron.url)) as client:
        contract = await client.get_contract(stack.tron.info()["trc20_contract"])
        sender = key.public_key.to_base58check_address()
        built = await contract.functions.transfer(to, amount)
        tx = await built.with_owner(sender).fee_limit(50 * TRX).build()
        result = await tx.sign(key).broadcast()
        return str(result["txid"])


async def watch(stack: Stack, address: str, chat: int) -> None:
    await monitors.watch(
        stack.client, stack.settings, "tron", address, Subscription(chat_id=chat, label="tron hot")
    )
    handle = stack.client.get_workflow_handle(monitor_id("tron", address))

    async def ready() -> bool:
        status: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
        return status.cursor is not None

    await eventually(ready)


async def test_trx_in_and_out(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, wallet, chat = tron_key(stack, 0), PrivateKey.random(), chat_id()
    address = wallet.public_key.to_base58check_address()
    await watch(stack, address, chat)
    await send_trx(stack, funder, address, 25 * TRX)
    [received] = await settled_messages(stack.telegram, chat, 1)
    assert "Received 25 TRX" in received["plain_text"]
    await send_trx(stack, wallet, funder.public_key.to_base58check_address(), 3 * TRX)
    got = await settled_messages(stack.telegram, chat, 2)
    assert len(got) == 2 and "Sent 3 TRX" in got[1]["plain_text"]
    rows = await pool.fetch(
        "SELECT direction, amount FROM wallet_events WHERE wallet = $1 ORDER BY block", address
    )
    assert [(r["direction"], int(r["amount"])) for r in rows] == [
        ("in", 25 * TRX),
        ("out", 3 * TRX),
    ]


async def test_trc20_in_and_out(stack: Stack) -> None:
    funder, wallet, chat = tron_key(stack, 1), PrivateKey.random(), chat_id()
    address = wallet.public_key.to_base58check_address()
    # Fees for the wallet's own transfer, solidified before watching: not reported.
    await send_trx(stack, funder, address, 100 * TRX, solid=True)
    await watch(stack, address, chat)
    await send_usdt(stack, funder, address, 7_250_000)
    [received] = await settled_messages(stack.telegram, chat, 1)
    assert "Received 7.25 USDT" in received["plain_text"]
    await send_usdt(stack, wallet, funder.public_key.to_base58check_address(), 1_000_000)
    got = await settled_messages(stack.telegram, chat, 2)
    assert len(got) == 2 and "Sent 1 USDT" in got[1]["plain_text"]
