"""More transactions between two checks than one page holds, with the real page sizes: more
than 1,000 signatures (one getSignaturesForAddress page) and 200 events (one fetch) on Solana,
more than 200 items (one TronGrid page) on TRON. All reported once, as digests."""

from __future__ import annotations

import asyncpg
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

from activities.monitor import PAGE_EVENTS
from activities.solana.adapters import SIGNATURE_PAGE
from activities.tron.adapters import GRID_PAGE
from tests.support.ids import chat_id
from tests.support.monitor import (
    TRX,
    assert_exactly_once,
    sol_key,
    sol_send_many,
    sol_wait_finalized,
    tron_address,
    tron_key,
    tron_send_many,
    tron_wait_solid,
)
from tests.support.stack import Stack
from tests.workflows.monitor.test_paging import burst_while_paused


async def test_solana_burst_beyond_the_real_pages(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, chat, address = sol_key(stack.solana, 12), chat_id(), str(Keypair().pubkey())
    count = SIGNATURE_PAGE + 50
    assert count > PAGE_EVENTS

    async def send() -> list[str]:
        sigs = await sol_send_many(
            stack.solana.url, funder, address, [10_000_000 + i for i in range(count)]
        )
        await sol_wait_finalized(stack.solana.url, sigs, timeout=120)
        return sigs

    sent, d = await burst_while_paused(stack, pool, "solana", address, chat, send)
    assert_exactly_once(d, sent)
    assert len(d.texts) >= count // PAGE_EVENTS, "one digest per fetch"
    assert all("transfers:" in t for t in d.texts)


async def test_tron_burst_beyond_the_real_page(stack: Stack, pool: asyncpg.Pool) -> None:
    funder, chat = tron_key(stack.tron, 12), chat_id()
    address = tron_address(PrivateKey.random())
    count = GRID_PAGE + 30

    async def send() -> list[str]:
        txids = await tron_send_many(
            stack.tron.url, funder, address, [TRX + i for i in range(count)]
        )
        await tron_wait_solid(stack.tron.url, txids, timeout=120)
        return txids

    sent, d = await burst_while_paused(stack, pool, "tron", address, chat, send, min_fetches=2)
    assert_exactly_once(d, sent)
    assert len(d.texts) >= 2 and all("transfers:" in t for t in d.texts)
