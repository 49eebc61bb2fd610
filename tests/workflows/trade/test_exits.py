"""Take-profit, stop-loss and trailing stop of copied positions and of plain buys: the holder
(a copy, or `position-{request_id}`) registers each position's exits as price watches, the
price-watch loop signals when one is met, and each exit sells once, as
`trade-exit-{follower}-{leader}-{asset}-{opening}-{rule}` (a copy) or
`trade-exit-{request_id}-{rule}` (a buy), even while the price crosses back and forth.

The devnet derives the copied token's Jupiter price from its pool against SOL times SOL's USD
price, so moving SOL's USD price moves the position's price in USD."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from chains.solana import SOL_MINT
from core.copying import CopyStatus
from core.exits import ExitRules, Position
from core.ids import RESERVED_REFUSAL, copy_id, position_id
from core.positions import PositionRequest, PositionStatus
from starter.bot.withdrawals import for_user
from starter.cli import exits as cli_exits
from starter.client import positions, trades, withdrawals
from starter.client.withdrawals import TRADE
from tests.support.cli import walletflow
from tests.support.stack import Stack, eventually, messages, stack_cli_env
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


# ---- a plain buy with exits (PositionWorkflow) --------------------------------------------


def position_request(stack: Stack, request_id: str, **rules: Any) -> PositionRequest:
    buy = trades.build_request(
        stack.settings, chain="solana", side="buy", token="USDC", amount="0.2",
        request_id=request_id, requested_by="", slippage_bps=100, notify_chat=4343,
    )  # fmt: skip
    return positions.build_request(stack.settings, buy, ExitRules(**rules))


async def position_status(stack: Stack, request_id: str) -> PositionStatus:
    handle = stack.client.get_workflow_handle(position_id(request_id))
    found: PositionStatus = await handle.query("status", result_type=PositionStatus)
    return found


async def test_a_buy_with_exits_takes_profit_once_then_stops_out_and_ends(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    rid = f"pos-{secrets.token_hex(4)}"
    req = position_request(stack, rid, take_profit_pct="50", take_profit_sell_pct="50",
                           stop_loss_pct="20")  # fmt: skip
    req = positions.signed(req, stack.signer("operator"))
    workflow_id, created = await positions.start(stack.client, stack.settings, req)
    assert (workflow_id, created) == (f"position-{rid}", True)
    assert (await positions.start(stack.client, stack.settings, req))[1] is False
    await positions.buy_started(stack.client, rid)
    buy = await withdrawals.handle(stack.client, rid, TRADE).result()
    assert buy.status == "confirmed" and buy.requested_by == "operator", buy

    async def holding(check: Callable[[Position], bool]) -> Position | None:
        current = await position_status(stack, rid)
        held = current.position
        return held if current.state == "holding" and held and check(held) else None

    opened = await eventually(lambda: holding(lambda p: p.entry_usd is not None), timeout=60)
    assert await eventually(lambda: watching(pool, workflow_id, 2))
    # Take-profit through a flapping price: half is sold, once.
    await set_price(stack, "solana", "240")
    for price in ("150", "240", "150", "240"):
        await asyncio.sleep(0.4)
        await set_price(stack, "solana", price)
    half = opened.amount - opened.amount * 50 // 100
    after_tp = await eventually(lambda: holding(lambda p: p.amount == half), timeout=60)
    assert after_tp.exits == ["tp"]
    # Stop-loss: the rest is sold, and with nothing left the position ends.
    await set_price(stack, "solana", "100")
    handle = stack.client.get_workflow_handle(workflow_id)
    final = await asyncio.wait_for(handle.result(), 60)
    assert final["state"] == "closed" and final["position"]["amount"] == 0, final
    trades_made = [(t["signature"], t["trade_id"], t["status"]) for t in final["trades"]]
    assert trades_made == [
        ("buy", f"trade-{rid}", "confirmed"),
        (f"exit:tp:{req.asset}:1", f"trade-exit-{rid}-tp", "confirmed"),
        (f"exit:sl:{req.asset}:1", f"trade-exit-{rid}-sl", "confirmed"),
    ]
    assert await watches(pool, workflow_id) == []
    audited = await pool.fetch(
        "SELECT action, outcome FROM audit_log WHERE subject = $1", f"position:{workflow_id}"
    )
    assert [(r["action"], r["outcome"]) for r in audited] == [("exits.start", "accepted")]
    told = [m["plain_text"] for m in await messages(stack.telegram, 4343)]
    assert sum(t.startswith("🎯 Take-profit on USDC") for t in told) == 1, told
    assert sum(t.startswith("🎯 Stop-loss on USDC") for t in told) == 1, told
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # the position, for test_replay.py
        for kept in (workflow_id, f"trade-exit-{rid}-tp"):  # and one exit trade
            history = await stack.client.get_workflow_handle(kept).fetch_history()
            (HISTORIES / f"{kept}.json").write_text(history.to_json() + "\n")


async def test_exits_cannot_be_forged_with_raw_temporal_access(
    stack: Stack, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    """Red team, with a raw client: an exit trade started outside its position, exits signed
    by someone else around the operator's buy, and exits changed after signing all move
    nothing."""
    raw = await Client.connect(temporal_env.client.service_client.config.target_host)
    queue = stack.settings.task_queue("solana")

    async def run_position(req: PositionRequest) -> dict[str, Any]:
        result: dict[str, Any] = await raw.execute_workflow(
            "PositionWorkflow",
            {"request": req.model_dump(mode="json")},
            id=position_id(req.buy.request_id),
            task_queue=queue,
        )
        return result

    # 1. Someone else's exits around the operator's own signed buy.
    rid = f"pos-{secrets.token_hex(4)}"
    honest = positions.signed(position_request(stack, rid, stop_loss_pct="20"),
                              stack.signer("operator"))  # fmt: skip
    other = positions.signed(position_request(stack, rid, stop_loss_pct="20"),
                             for_user(stack.signer("bot"), 1001))  # fmt: skip
    wrapped = honest.model_copy(update={"intent": other.intent})
    result = await run_position(wrapped)
    assert result["state"] == "refused"
    assert result["reason"] == "the exits and the buy are signed by different identities"
    # 2. Exits changed after signing (a wider stop).
    rid = f"pos-{secrets.token_hex(4)}"
    signed = positions.signed(position_request(stack, rid, stop_loss_pct="20"),
                              stack.signer("operator"))  # fmt: skip
    widened = signed.model_copy(update={"rules": ExitRules(stop_loss_pct="90")})
    result = await run_position(widened)
    assert result["state"] == "refused", result
    assert result["reason"] == "the statement's parameters differ from the command's"
    # 3. An exit trade with a valid grant, started by the raw client rather than its position.
    exit_trade = trades.build_request(
        stack.settings, chain="solana", side="sell", token="USDC", amount="1",
        request_id=f"forged-{rid}", requested_by="operator", slippage_bps=100,
    ).model_copy(
        update={"request_id": f"exit-{rid}-sl", "exit_of": signed.grant(position_id(rid))}
    )  # fmt: skip
    result = await raw.execute_workflow(
        "TradeWorkflow",
        exit_trade.model_dump(mode="json"),
        id=f"trade-exit-{rid}-sl",
        task_queue=queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    assert result["status"] == "rejected", result
    assert result["reason"] == f"a position's exit must be started by position-{rid}"
    # 4. A plain trade, properly signed, that takes the id of an exit to come: were it
    # started, the stop-loss's own trade would be refused as a duplicate and never sell.
    squatter = withdrawals.signed(
        trades.build_request(
            stack.settings, chain="solana", side="buy", token="USDC", amount="0.01",
            request_id=f"squat-{rid}", requested_by="", slippage_bps=100,
        ).model_copy(update={"request_id": f"exit-{rid}-tp"}),
        stack.signer("operator"),
    )  # fmt: skip
    result = await raw.execute_workflow(
        "TradeWorkflow", squatter.model_dump(mode="json"), id=f"trade-exit-{rid}-tp",
        task_queue=queue,
    )  # fmt: skip
    assert result["status"] == "rejected", result
    assert result["reason"] == RESERVED_REFUSAL
    moved = await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE request_id LIKE $1", f"%{rid}%"
    )
    assert moved == 0


async def test_the_cli_buys_with_a_trailing_stop_lists_and_stops_exits(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    env = stack_cli_env(stack, tmp_path)
    rid = f"pos-{secrets.token_hex(4)}"
    bought = await walletflow(env, "trade", "buy", "USDC", "0.1", "--request-id", rid,
                              "--trailing-stop", "10", "--wait", "--json")  # fmt: skip
    assert bought.code == 0, bought
    doc = json.loads(bought.out)
    assert doc["workflow_id"] == f"position-{rid}" and doc["result"]["status"] == "confirmed"

    async def listed() -> dict[str, Any] | None:
        found = json.loads((await walletflow(env, "trade", "positions", "--json")).out)
        mine = [p for p in found if p["workflow_id"] == f"position-{rid}"]
        return mine[0] if mine and mine[0]["position"]["entry_usd"] else None

    held = await eventually(listed, timeout=60)
    assert held["state"] == "holding" and held["rules"]["trailing_stop_pct"] == "10"
    assert await eventually(lambda: watching(pool, f"position-{rid}", 2))
    stopped = await walletflow(env, "trade", "stop-exits", rid, "--json")
    assert stopped.code == 0 and json.loads(stopped.out)["stopping"] is True
    handle = stack.client.get_workflow_handle(f"position-{rid}")
    assert (await asyncio.wait_for(handle.result(), 30))["state"] == "stopped"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await watches(pool, f"position-{rid}") == []

    for args, message in (
        (("sell", "USDC", "1", "--stop-loss", "20"), "exits are for buys"),
        (("buy", "USDC", "0.1", "--stop-loss", "100"), "--stop-loss must be under 100"),
        (("buy", "USDC", "0.1", "--take-profit-sell", "50"), "needs --take-profit"),
    ):
        bad = await walletflow(env, "trade", *args, "--request-id", f"bad-{secrets.token_hex(3)}")
        assert bad.code == cli_exits.ERROR and message in bad.err, bad
        assert bad.err.strip().count("\n") == 0
    gone = await walletflow(env, "trade", "stop-exits", "nope-never")
    assert gone.code == cli_exits.ERROR and "no position position-nope-never" in gone.err
