"""Pause and resume: nothing is fetched or sent while paused, even when the trigger pokes;
on resume everything that happened meanwhile arrives once (a burst becomes one digest)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

from starter.client import monitors
from tests.support.ids import chat_id
from tests.support.monitor import (
    SOL,
    TRX,
    assert_exactly_once,
    delivery,
    signals_named,
    sol_key,
    sol_send_many,
    sol_wait_finalized,
    tron_address,
    tron_key,
    tron_send_many,
    tron_wait_solid,
    wait_state,
    watch,
)
from tests.support.stack import Stack, eventually, messages, settled_messages


async def send(stack: Stack, chain: str, funder: int, to: str, amounts: list[int]) -> list[str]:
    """Transfers into `to`, returned once final (finalized / solidified)."""
    if chain == "solana":
        sigs = await sol_send_many(stack.solana.url, sol_key(stack.solana, funder), to, amounts)
        await sol_wait_finalized(stack.solana.url, sigs)
        return sigs
    txids = await tron_send_many(stack.tron.url, tron_key(stack.tron, funder), to, amounts)
    await tron_wait_solid(stack.tron.url, txids)
    return txids


@pytest.mark.parametrize("chain", ["solana", "tron"])
async def test_paused_sends_nothing_and_resume_delivers_everything_once(
    stack: Stack, pool: asyncpg.Pool, chain: str
) -> None:
    chat = chat_id()
    if chain == "solana":
        address, funder, unit = str(Keypair().pubkey()), 5, SOL // 100
    else:
        address, funder, unit = tron_address(PrivateKey.random()), 5, TRX
    handle = await watch(stack.client, stack.settings, chain, address, chat)

    sent = await send(stack, chain, funder, address, [100 * unit])
    await settled_messages(stack.telegram, chat, 1, quiet=0.5)

    await monitors.signal_monitor(stack.client, chain, address, "pause")
    await wait_state(handle, "paused")
    pokes_before = await signals_named(handle, "poke")

    during = await send(stack, chain, funder, address, [(i + 1) * unit for i in range(5)])

    async def poked() -> bool:
        return await signals_named(handle, "poke") > pokes_before

    await eventually(poked)  # the trigger saw the transfers and poked the paused monitor
    await asyncio.sleep(2)  # time enough to (wrongly) fetch and send
    assert len(await messages(stack.telegram, chat)) == 1, "a message was sent while paused"
    ledgered = await pool.fetchval("SELECT count(*) FROM wallet_events WHERE wallet = $1", address)
    assert ledgered == 1, "the monitor fetched while paused"

    await monitors.signal_monitor(stack.client, chain, address, "resume")
    got = await settled_messages(stack.telegram, chat, 2)
    assert len(got) == 2 and "5 transfers:" in got[1]["plain_text"], got[1]["plain_text"]
    assert_exactly_once(await delivery(pool, stack.telegram, chain, address, chat), sent + during)

    # Running again: the next transfer is an ordinary single message.
    after = await send(stack, chain, funder, address, [7 * unit])
    got = await settled_messages(stack.telegram, chat, 3)
    assert len(got) == 3 and "Received" in got[2]["plain_text"]
    final = await delivery(pool, stack.telegram, chain, address, chat)
    assert_exactly_once(final, sent + during + after)
    assert (await wait_state(handle, "running")).counters.events == 7
