"""Take-profit, stop-loss and trailing stop of copied positions: the copy registers each
position's exits as price watches, the price-watch loop signals when one is met, and each exit
sells once, as `trade-exit-{follower}-{leader}-{asset}-{opening}-{rule}`, even while the price
crosses back and forth.

The devnet derives the copied token's Jupiter price from its pool against SOL times SOL's USD
price, so moving SOL's USD price moves the position's price in USD."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest_asyncio

from chains.solana import SOL_MINT
from core.copying import CopyStatus
from core.exits import Position
from core.ids import copy_id
from tests.support.stack import Stack, eventually, messages
from tests.workflows.alert.test_price_alerts import set_price
from tests.workflows.trade.test_copy import funded_leader, leader_swap, start_copy, status

STACK = {
    "queues": ("solana", "notify", "prices"),
    "triggers": True,
    "settings": {"PRICE_POLL_SECONDS": 0.5, "JUPITER_REQUESTS_PER_SECOND": 0},
}
SOL = 10**9
HISTORIES = Path(__file__).parent.parent / "histories"


@pytest_asyncio.fixture(autouse=True)
async def sol_at_150(stack: Stack) -> AsyncIterator[None]:
    await set_price(stack, "solana", "150")
    yield
    await set_price(stack, "solana", "150")


async def watches(pool: asyncpg.Pool, workflow_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT watch_id FROM price_watches WHERE workflow_id = $1 ORDER BY watch_id", workflow_id
    )
    return [r["watch_id"] for r in rows]


async def test_take_profit_sells_once_through_a_flapping_price_then_the_stop_loss_sells_the_rest(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    leader = await funded_leader(stack, 12)
    usdc = str(stack.devnets["solana"]["spl_mint"])
    workflow_id = await start_copy(
        stack, leader, sol_per_buy="0.2", take_profit_pct="50", take_profit_sell_pct="50",
        stop_loss_pct="20",
    )  # fmt: skip
    assert workflow_id == copy_id("operator", str(leader.pubkey()))
    await leader_swap(stack, leader, SOL_MINT, usdc, SOL)

    async def position() -> Position | None:
        current: CopyStatus = await status(stack, workflow_id)
        found = [p for p in current.positions if p.asset == usdc]
        return found[0] if found else None

    async def entered() -> Position | None:
        found = await position()
        return found if found is not None and found.entry_usd is not None else None

    opened: Position = await eventually(entered, timeout=60)
    assert opened.opened == 1 and opened.exits == []
    await eventually(lambda: watching(pool, workflow_id, 2))

    # Take-profit: SOL to $240 lifts the position's USD price 60% (over +50%). While its
    # exit trade runs, the price falls back under and rises over the level again.
    await set_price(stack, "solana", "240")
    for price in ("150", "240", "150", "240"):
        await asyncio.sleep(0.4)
        await set_price(stack, "solana", price)
    half = opened.amount - opened.amount * 50 // 100

    async def took_profit() -> Position | None:
        found = await position()
        return found if found is not None and found.amount == half else None

    after_tp: Position = await eventually(took_profit, timeout=60)
    assert after_tp.exits == ["tp"]
    await asyncio.sleep(2)  # more polls at $240 and $150: nothing more is sold
    current = await status(stack, workflow_id)
    exits = [c for c in current.copied if c.signature.startswith("exit:")]
    assert [(c.signature, c.status) for c in exits] == [(f"exit:tp:{usdc}:1", "confirmed")]
    assert exits[0].trade_id == f"trade-exit-operator-{leader.pubkey()}-{usdc}-1-tp"
    assert await watches(pool, workflow_id) == [f"{workflow_id}#{usdc}#sl"]

    # Stop-loss: SOL to $100 is -33% from the entry: the rest is sold, the exits dropped.
    await set_price(stack, "solana", "100")

    async def stopped_out() -> Position | None:
        found = await position()
        return found if found is not None and found.amount == 0 else None

    closed: Position = await eventually(stopped_out, timeout=60)
    assert closed.exits == ["tp", "sl"] and closed.realized != 0
    current = await status(stack, workflow_id)
    sold = [c.signature for c in current.copied if c.signature.startswith("exit:")]
    assert sold == [f"exit:tp:{usdc}:1", f"exit:sl:{usdc}:1"]
    await eventually(lambda: watching(pool, workflow_id, 0))
    assert Decimal(opened.entry_usd or "0") > 0

    async def told() -> list[str] | None:
        texts = [m["plain_text"] for m in await messages(stack.telegram, 4242)]
        found = [t for t in texts if t.startswith("🎯") and usdc in t]
        return found if len(found) == 2 else None

    take, stop = await eventually(told)
    assert take.startswith("🎯 Take-profit on USDC at $") and "confirmed" in take
    assert stop.startswith("🎯 Stop-loss on USDC at $") and "confirmed" in stop
    # WALLETFLOW_RECORD_HISTORIES=1: keep the copy's history (exits) for test_replay.py.
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):
        await record(stack, workflow_id)


async def record(stack: Stack, workflow_id: str) -> None:
    handle = stack.client.get_workflow_handle(workflow_id)
    await handle.signal("stop")
    await handle.result()
    history = await handle.fetch_history()
    (HISTORIES / f"{workflow_id}.json").write_text(history.to_json() + "\n")


async def watching(pool: asyncpg.Pool, workflow_id: str, count: int) -> bool:
    return len(await watches(pool, workflow_id)) == count


async def test_a_trailing_stop_follows_the_highs_and_sells_once_under_the_last(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    leader = await funded_leader(stack, 12)
    usdc = str(stack.devnets["solana"]["spl_mint"])
    workflow_id = await start_copy(stack, leader, sol_per_buy="0.2", trailing_stop_pct="10")
    await leader_swap(stack, leader, SOL_MINT, usdc, SOL)

    async def position(check: Callable[[Position], bool]) -> Position | None:
        current: CopyStatus = await status(stack, workflow_id)
        found = [p for p in current.positions if p.asset == usdc and check(p)]
        return found[0] if found else None

    opened = await eventually(lambda: position(lambda p: p.peak_usd is not None), timeout=60)
    assert opened.peak_usd == opened.entry_usd and opened.exits == []
    trail, peak = f"{workflow_id}#{usdc}#trail", f"{workflow_id}#{usdc}#peak"
    assert await eventually(lambda: watches_are(pool, workflow_id, [peak, trail]))
    entry = Decimal(opened.entry_usd or "0")

    # Two new highs (SOL $150 -> $165 -> $180): the stop moves up under each.
    for sol_usd, rise in (("165", Decimal("1.09")), ("180", Decimal("1.19"))):
        await set_price(stack, "solana", sol_usd)
        await eventually(lambda: position(peak_over(entry * rise)), timeout=60)  # noqa: B023
    # $165 is 8% under the high: above the stop, nothing is sold.
    await set_price(stack, "solana", "165")
    await asyncio.sleep(2)
    held = await position(lambda p: p.amount == opened.amount)
    assert held is not None and held.exits == []
    # $150 is 17% under the high (about the entry, where no fixed stop would fire): sold,
    # once, while the price flaps over and under the stop.
    for price in ("150", "170", "150"):
        await set_price(stack, "solana", price)
        await asyncio.sleep(0.4)
    closed = await eventually(lambda: position(lambda p: p.amount == 0), timeout=60)
    assert closed.exits == ["trail"]
    current = await status(stack, workflow_id)
    sold = [(c.signature, c.trade_id) for c in current.copied if c.signature.startswith("exit:")]
    assert sold == [
        (f"exit:trail:{usdc}:1", f"trade-exit-operator-{leader.pubkey()}-{usdc}-1-trail")
    ]
    assert await eventually(lambda: watches_are(pool, workflow_id, []))
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # a copy with a trailing stop
        await record(stack, workflow_id)


def peak_over(price: Decimal) -> Callable[[Position], bool]:
    return lambda p: Decimal(p.peak_usd or 0) > price


async def watches_are(pool: asyncpg.Pool, workflow_id: str, expected: list[str]) -> bool:
    return await watches(pool, workflow_id) == expected
