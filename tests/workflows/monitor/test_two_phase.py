"""Two-phase alerts end to end: a pending message at `confirmed` (Solana, over WebSocket
PubSub) or at the head block (TRON), edited in place to final, or to dropped.

The Solana devnet here finalizes 3 s after confirming, so the pending phase is visible, and
the trigger's sweep is slowed to once an hour: what these tests see comes from push.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction
from temporalio.testing import WorkflowEnvironment
from tronpy.keys import PrivateKey

from chains.solana import SOL_MINT
from chains.solana.signing import add_signature
from core.amounts import from_base_units, plain
from core.ids import monitor_id, push_id
from core.models import MonitorStatus, Subscription
from core.texts import DROPPED_MARK, FINAL_MARK, PENDING_MARK
from starter.client import monitors
from tests.support.chain_tx import sol_account, sol_send, usdc
from tests.support.fixtures import serve
from tests.support.ids import chat_id
from tests.support.stack import Devnets, Stack, eventually, messages, running_stack
from tests.workflows.monitor.test_tron import send_trx, tron_key
from tests.workflows.test_replay import HISTORIES
from workflows.monitor import WalletMonitorWorkflow

SOL = 10**9
PENDING = "Pending: seen on chain, not final yet"
FINAL = "✅ Final"
DROPPED = "Dropped: never became final, nothing moved"


@pytest_asyncio.fixture(scope="module")
async def slow_solana() -> AsyncIterator[Any]:
    from devnet.solana import SolanaDevnet, SolanaDevnetConfig

    config = SolanaDevnetConfig(slot_ms=50, finalized_lag=60, accounts=20, seed="two-phase")
    async for devnet in serve(SolanaDevnet(config)):
        yield devnet


@pytest_asyncio.fixture(scope="module")
async def stack(
    temporal_env: WorkflowEnvironment, pg_dsn: str, slow_solana: Any, devnets: Devnets
) -> AsyncIterator[Stack]:
    nets = Devnets(slow_solana, devnets.tron, devnets.telegram)
    quiet_trigger = {"SOLANA_SWEEP_SECONDS": 3600}
    async with running_stack(temporal_env.client, pg_dsn, nets, settings=quiet_trigger) as s:
        yield s


async def watch(stack: Stack, chain: str, address: str, chat: int, **options: Any) -> None:
    sub = Subscription(chat_id=chat, label="hot", **options)
    await monitors.watch(stack.client, stack.settings, chain, address, sub)
    handle = stack.client.get_workflow_handle(monitor_id(chain, address))

    async def ready() -> bool:
        status: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
        return status.cursor is not None

    await eventually(ready)


async def subscribed(stack: Stack, chain: str, wallets: int) -> None:
    """Until the push follower's heartbeat shows `wallets` wallets subscribed and connected."""
    handle = stack.client.get_workflow_handle(push_id(stack.settings.task_queue(chain)))

    async def enough() -> bool:
        desc = await handle.describe()
        pending = desc.raw_description.pending_activities
        if not pending or not pending[0].HasField("heartbeat_details"):
            return False
        converter = stack.client.data_converter
        [shards] = await converter.decode(pending[0].heartbeat_details.payloads)
        return sum(s["wallets"] for s in shards if s["connected"]) >= wallets

    await eventually(enough)


async def one_message(telegram: Any, chat: int, text: str, timeout: float = 30) -> dict[str, Any]:
    """The chat's single message, once its current text holds `text`."""

    async def shows() -> dict[str, Any] | None:
        got = await messages(telegram, chat)
        assert len(got) <= 1, f"more than one message: {[m['plain_text'] for m in got]}"
        return got[0] if got and text in got[0]["plain_text"] else None

    found: dict[str, Any] = await eventually(shows, timeout=timeout)
    return found


async def ledgered(pool: asyncpg.Pool, wallet: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM wallet_events WHERE wallet = $1", wallet))


async def test_sol_pending_then_final_edited_in_place(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, wallet, chat = sol_account(stack.solana, 0), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, "solana", address, chat)
    native = stack.settings.tokens("solana").native

    await sol_send(stack.solana.url, funder, address, native, 3 * SOL // 2)
    pending = await one_message(stack.telegram, chat, PENDING, timeout=10)
    assert "Received 1.5 SOL" in pending["plain_text"]
    assert await ledgered(pool, address) == 0, "the ledger holds final events only"

    final = await one_message(stack.telegram, chat, FINAL)
    assert final["message_id"] == pending["message_id"]
    assert [e["plain_text"].split("\n")[0] for e in final["edits"]] == [FINAL]
    assert await ledgered(pool, address) == 1
    await asyncio.sleep(2)  # nothing more comes: no second edit, no second message
    [again] = await messages(stack.telegram, chat)
    assert len(again["edits"]) == 1

    handle = stack.client.get_workflow_handle(monitor_id("solana", address))
    status: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
    assert status.counters.pending == 1 and status.counters.finals_edited == 1
    assert status.pending == [] and status.last_seen is not None


async def test_tokens_into_new_accounts_are_pending_then_final(stack: Stack) -> None:
    funder, wallet, chat = sol_account(stack.solana, 1), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, "solana", address, chat)
    # The ATA does not exist: programSubscribe (owner memcmp) sees the account it creates.
    await sol_send(stack.solana.url, funder, address, usdc(stack.solana), 2_500_000)
    pending = await one_message(stack.telegram, chat, PENDING, timeout=10)
    assert "Received 2.5 USDC" in pending["plain_text"]
    final = await one_message(stack.telegram, chat, FINAL)
    assert len(final["edits"]) == 1


async def test_final_only_sends_one_message(stack: Stack) -> None:
    funder, wallet, chat = sol_account(stack.solana, 2), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, "solana", address, chat, final_only=True)
    await sol_send(stack.solana.url, funder, address, stack.settings.tokens("solana").native, SOL)
    message = await one_message(stack.telegram, chat, "Received 1 SOL")
    await asyncio.sleep(2)
    [message] = await messages(stack.telegram, chat)
    assert message["edits"] == [] and PENDING not in message["plain_text"]
    assert not message["plain_text"].startswith(FINAL)


async def test_pending_then_dropped(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, wallet, chat = sol_account(stack.solana, 3), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, "solana", address, chat)
    stack.solana.orphan_next(1)  # confirmed on a fork that is then abandoned
    await sol_send(stack.solana.url, funder, address, stack.settings.tokens("solana").native, SOL)
    pending = await one_message(stack.telegram, chat, PENDING, timeout=10)
    # Dropped once finalized data is EARLY_DROP_BLOCKS (300 slots, 15 s here) past it.
    dropped = await one_message(stack.telegram, chat, DROPPED, timeout=60)
    assert dropped["message_id"] == pending["message_id"] and len(dropped["edits"]) == 1
    assert await ledgered(pool, address) == 0


async def test_a_dropped_transfer_reaches_webhooks_though_no_chat_saw_it_pending(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    """A final-only chat is never told "pending", but webhooks are: they hear "dropped" too."""
    funder, wallet, chat = sol_account(stack.solana, 4), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, "solana", address, chat, final_only=True)
    stack.solana.orphan_next(1)
    await sol_send(stack.solana.url, funder, address, stack.settings.tokens("solana").native, SOL)

    async def states() -> list[str] | None:
        rows = await pool.fetch(
            """SELECT body->>'state' AS state FROM webhook_events
               WHERE wallet = $1 AND type = 'wallet.transfer' ORDER BY seq""",
            address,
        )
        found = [r["state"] for r in rows]
        return found if "dropped" in found else None

    assert await eventually(states, timeout=90) == ["pending", "dropped"]
    assert await messages(stack.telegram, chat) == []  # the chat heard nothing: nothing landed
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # the `dropped-webhooks` branch
        workflow_id = monitor_id("solana", address)
        history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
        (HISTORIES / f"{workflow_id}.json").write_text(history.to_json() + "\n")


async def test_watch_and_send_in_the_same_second(stack: Stack) -> None:
    funder, wallet, chat = sol_account(stack.solana, 4), Keypair(), chat_id()
    address = str(wallet.pubkey())
    native = stack.settings.tokens("solana").native
    sub = Subscription(chat_id=chat, label="hot")
    await asyncio.gather(
        monitors.watch(stack.client, stack.settings, "solana", address, sub),
        sol_send(stack.solana.url, funder, address, native, 2 * SOL),
    )
    final = await one_message(stack.telegram, chat, "Received 2 SOL", timeout=30)
    assert final["plain_text"].startswith((PENDING, FINAL)) or "Received 2 SOL" in final["text"]
    await one_message(stack.telegram, chat, FINAL)


async def test_lost_notifications_are_caught_up_after_a_reconnect(stack: Stack) -> None:
    funder, wallet, chat = sol_account(stack.solana, 5), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, "solana", address, chat)
    await subscribed(stack, "solana", 1)
    stack.solana.faults.update({"ws_lose_rate": 1.0})  # every notification is lost
    await sol_send(stack.solana.url, funder, address, stack.settings.tokens("solana").native, SOL)
    await asyncio.sleep(1)
    assert await messages(stack.telegram, chat) == []
    # The connection drops; the shard reconnects, resubscribes and catches up by cursor.
    stack.solana.faults.update({"ws_lose_rate": 0.0, "ws_drop_every_s": 0.5})
    await one_message(stack.telegram, chat, PENDING, timeout=15)
    stack.solana.faults.update({"ws_drop_every_s": 0})
    await one_message(stack.telegram, chat, FINAL)


async def test_unknown_pending_send_gets_one_new_final(stack: Stack) -> None:
    funder, wallet, chat = sol_account(stack.solana, 6), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await watch(stack, "solana", address, chat)
    lose = {"lost_response_rate": 1.0, "only_methods": ["sendmessage"]}
    stack.telegram.faults.update(lose)
    await sol_send(stack.solana.url, funder, address, stack.settings.tokens("solana").native, SOL)
    await one_message(stack.telegram, chat, PENDING, timeout=10)  # delivered, answer lost
    stack.telegram.faults.update({"lost_response_rate": 0.0, "only_methods": None})

    async def two() -> list[dict[str, Any]] | None:
        got = await messages(stack.telegram, chat)
        return got if len(got) == 2 else None

    pending, final = await eventually(two)
    assert pending["edits"] == [], "no message id: the pending one cannot be edited"
    assert final["plain_text"].startswith(FINAL)
    await asyncio.sleep(2)
    assert len(await messages(stack.telegram, chat)) == 2, "never two finals"


async def test_a_swap_is_one_message_pending_then_final(stack: Stack, pool: asyncpg.Pool) -> None:
    """A swap at the devnet venue: two balance changes in the ledger, one message that says
    what was given for what, at which price."""
    trader, chat = sol_account(stack.solana, 7), chat_id()
    address = str(trader.pubkey())
    await watch(stack, "solana", address, chat)
    info = stack.solana.info()
    async with httpx.AsyncClient() as http:
        quote = (
            await http.get(
                f"{info['swap_url']}/quote",
                params={"inputMint": SOL_MINT, "outputMint": info["spl_mint"], "amount": SOL},
            )
        ).json()
        swap = (
            await http.post(
                f"{info['swap_url']}/swap",
                json={"quoteResponse": quote, "userPublicKey": address},
            )
        ).json()
    tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
    async with AsyncClient(stack.solana.url) as rpc:
        opts = TxOpts(preflight_commitment=Confirmed)  # the venue's blockhash is a confirmed one
        await rpc.send_raw_transaction(bytes(add_signature(tx, trader)), opts=opts)
    bought = plain(from_base_units(int(quote["outAmount"]), 6))
    pending = await one_message(stack.telegram, chat, PENDING, timeout=10)
    assert f"Swapped 1 SOL → {bought} USDC at {bought} USDC/SOL" in pending["plain_text"]
    final = await one_message(stack.telegram, chat, FINAL)
    assert final["message_id"] == pending["message_id"]
    assert "Swapped 1 SOL → " in final["plain_text"] and "Received" not in final["plain_text"]
    rows = await pool.fetch(
        "SELECT direction, asset FROM wallet_events WHERE wallet = $1 ORDER BY direction", address
    )
    assert [(r["direction"], r["asset"]) for r in rows] == [
        ("in", info["spl_mint"]),
        ("out", "SOL"),
    ]


async def test_tron_pending_at_head_then_final(stack: Stack) -> None:
    funder, wallet, chat = tron_key(stack, 7), PrivateKey.random(), chat_id()
    address = wallet.public_key.to_base58check_address()
    await watch(stack, "tron", address, chat)
    await send_trx(stack, funder, address, 3_000_000)
    final = await one_message(stack.telegram, chat, FINAL)
    assert final["text"].startswith(PENDING_MARK), "first sent as pending, at the head block"
    assert [e["text"].split("\n")[0] for e in final["edits"]] == [FINAL_MARK]
    assert DROPPED_MARK not in final["plain_text"]
