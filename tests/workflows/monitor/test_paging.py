"""More transactions between two checks than one page holds: all of them are reported, once.

The monitor is paused while a burst lands, then resumed. Here the readers' page sizes are
made small (the same code paths as the real sizes, which test_paging_real.py exercises), so
a burst spans many node pages and many fetches; each fetch's burst for a chat is a digest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

from activities import monitor as monitor_activities
from activities.solana import adapters as solana_adapters
from activities.tron import adapters as tron_adapters
from starter.client import monitors
from tests.support.ids import chat_id
from tests.support.monitor import (
    SOL,
    TRX,
    Delivery,
    assert_exactly_once,
    delivery,
    sol_key,
    sol_send_many,
    sol_usdc,
    sol_wait_finalized,
    tron_address,
    tron_key,
    tron_send_many,
    tron_wait_solid,
    wait_state,
    watch,
)
from tests.support.stack import Stack, eventually


@pytest.fixture(scope="module", autouse=True)
def small_pages() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solana_adapters, "SIGNATURE_PAGE", 10)  # node page: getSignaturesForAddress
        patch.setattr(tron_adapters, "GRID_PAGE", 5)  # node page: TronGrid
        patch.setattr(monitor_activities, "PAGE_EVENTS", 7)  # events per fetch
        yield


async def burst_while_paused(
    stack: Stack,
    pool: asyncpg.Pool,
    chain: str,
    address: str,
    chat: int,
    send: object,
    *,
    min_fetches: int = 3,
) -> tuple[list[str], Delivery]:
    handle = await watch(stack.client, stack.settings, chain, address, chat)
    await monitors.signal_monitor(stack.client, chain, address, "pause")
    await wait_state(handle, "paused")
    sent: list[str] = await send()  # type: ignore[operator]
    await monitors.signal_monitor(stack.client, chain, address, "resume")

    async def all_notified() -> Delivery | None:
        d = await delivery(pool, stack.telegram, chain, address, chat)
        return d if d.delivered_events >= len(sent) else None

    await eventually(all_notified, timeout=90, interval=0.5)
    d = await delivery(pool, stack.telegram, chain, address, chat)
    status = await wait_state(handle, "running")
    assert status.counters.events == len(sent), "an event was fetched twice"
    assert status.counters.fetches >= min_fetches, "the burst did not span several fetches"
    return sent, d


async def test_solana_burst_larger_than_a_page(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, chat, address = sol_key(stack.solana, 8), chat_id(), str(Keypair().pubkey())

    async def send() -> list[str]:
        sigs = []
        for group in range(10):  # spread over several slots, several per slot
            amounts = [SOL + group * 10 + i for i in range(3)]
            sigs += await sol_send_many(stack.solana.url, funder, address, amounts)
            await asyncio.sleep(0.1)
        # A token burst into a new token account, discovered mid-way; most of these transfers
        # name only the token account, not the wallet.
        usdc = sol_usdc(stack.solana)
        sigs += await sol_send_many(stack.solana.url, funder, address, [1_000, 1_001], usdc)
        await sol_wait_finalized(stack.solana.url, sigs[-2:])
        amounts = [2_000 + i for i in range(10)]
        sigs += await sol_send_many(
            stack.solana.url, funder, address, amounts, usdc, token_account_only=True
        )
        await sol_wait_finalized(stack.solana.url, sigs)
        return sigs

    sent, d = await burst_while_paused(stack, pool, "solana", address, chat, send)
    assert_exactly_once(d, sent)
    assert any("transfers:" in t for t in d.texts), "a burst for one chat becomes digests"


async def test_tron_burst_larger_than_a_page(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, chat = tron_key(stack.tron, 8), chat_id()
    address = tron_address(PrivateKey.random())
    usdt = stack.tron.info()["trc20_contract"]

    async def send() -> list[str]:
        txids = []
        for round_ in range(5):  # TRX and TRC20 interleaved, several per block
            txids += await tron_send_many(
                stack.tron.url, funder, address, [(round_ * 10 + i + 1) * TRX for i in range(5)]
            )
            txids += await tron_send_many(
                stack.tron.url, funder, address, [round_ * 10 + i + 1 for i in range(2)], token=usdt
            )
        await tron_wait_solid(stack.tron.url, txids)
        return txids

    sent, d = await burst_while_paused(stack, pool, "tron", address, chat, send)
    assert_exactly_once(d, sent)
    assert any("transfers:" in t for t in d.texts), "a burst for one chat becomes digests"


async def test_tron_burst_in_and_out_of_one_token(stack: Stack, pool: asyncpg.Pool) -> None:
    """TRC20 both ways in the same blocks: the wallet's outgoing token transfers are in both of
    TronGrid's lists, the incoming ones only in the TRC20 list, so the two lists reach page
    limits at different points of the same block."""
    funder, wallet, chat = tron_key(stack.tron, 9), PrivateKey.random(), chat_id()
    address = tron_address(wallet)
    usdt = stack.tron.info()["trc20_contract"]
    setup = await tron_send_many(stack.tron.url, funder, address, [500 * TRX])
    setup += await tron_send_many(stack.tron.url, funder, address, [10**9], token=usdt)
    await tron_wait_solid(stack.tron.url, setup)  # before watching: not reported

    async def send() -> list[str]:
        txids = []
        for round_ in range(6):
            txids += await tron_send_many(
                stack.tron.url, funder, address, [round_ * 10 + i + 1 for i in range(3)], token=usdt
            )
            txids += await tron_send_many(
                stack.tron.url, wallet, tron_address(funder), [round_ + 1], token=usdt
            )
        await tron_wait_solid(stack.tron.url, txids)
        return txids

    sent, d = await burst_while_paused(stack, pool, "tron", address, chat, send)
    assert_exactly_once(d, sent)
