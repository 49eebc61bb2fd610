"""Trades (`trade-{request_id}`): swaps from the trading wallet against the devnet venue, under
the withdrawal rules (a signed statement, persisted bytes, re-send only those, a new quote only
after the earlier version is proven dead), with the fill in the ledger read from the chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from core.errors import UserError
from core.models import WithdrawalRequest, WithdrawalStatus
from starter.cli import exits
from starter.client import trades, withdrawals
from starter.client.withdrawals import TRADE
from tests.support.cli import walletflow
from tests.support.ids import new_request_id
from tests.support.stack import Stack, stack_cli_env
from tests.support.withdrawals import ledger, sol_balance

STACK = {"queues": ("solana", "notify"), "triggers": False}


def usdc(stack: Stack) -> str:
    return str(stack.devnets["solana"]["spl_mint"])


def request(stack: Stack, side: trades.Side, amount: str, **terms: Any) -> WithdrawalRequest:
    return trades.build_request(
        stack.settings,
        chain="solana",
        side=side,
        token="USDC",
        amount=amount,
        request_id=new_request_id(),
        requested_by="set by the signature",
        **terms,
    )


async def trade(stack: Stack, req: WithdrawalRequest) -> WithdrawalStatus:
    await withdrawals.start(stack.client, stack.settings, req, stack.signer("operator"))
    return await withdrawals.handle(stack.client, req.request_id, TRADE).result()


async def fills(pool: asyncpg.Pool, request_id: str) -> list[tuple[str, str, int]]:
    rows = await pool.fetch(
        """SELECT kind, asset, amount FROM ledger_entries WHERE request_id = $1
           ORDER BY array_position(ARRAY['reserve', 'debit', 'release', 'fill'], kind)""",
        request_id,
    )
    return [(r["kind"], r["asset"], int(r["amount"])) for r in rows]


async def test_a_buy_and_a_sell_fill_once_and_the_ledger_matches_the_chain(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    hot = stack.devnets["solana"]["accounts"][19]["address"]
    mint = usdc(stack)
    usdc_before = await sol_balance(stack, hot, mint)

    bought = await trade(stack, request(stack, "buy", "1.5"))
    assert bought.status == "confirmed", bought
    assert bought.fill is not None and bought.output == "USDC"
    assert bought.fill.input_id == "SOL" and bought.fill.input_amount == 1_500_000_000
    assert bought.fill.output_id == mint and bought.fill.output_amount > 200 * 10**6
    usdc_after = await sol_balance(stack, hot, mint)
    assert usdc_after - usdc_before == bought.fill.output_amount  # ledger = chain
    assert await fills(pool, bought.request_id) == [
        ("reserve", "SOL", 1_500_000_000),
        ("debit", "SOL", 1_500_000_000),
        ("fill", mint, bought.fill.output_amount),
    ]
    assert [v.version for v in bought.versions] == [1]

    sold = await trade(stack, request(stack, "sell", "100"))
    assert sold.status == "confirmed", sold
    assert sold.fill is not None and sold.fill.input_amount == 100 * 10**6
    assert sold.fill.output_id == "SOL" and 0 < sold.fill.output_amount < 10**9
    assert await sol_balance(stack, hot, mint) == usdc_after - 100 * 10**6
    assert [k for k, _, _ in await fills(pool, sold.request_id)] == ["reserve", "debit", "fill"]
    rows = await pool.fetch(
        "SELECT kind, output_asset FROM withdrawals WHERE request_id = ANY($1)",
        [bought.request_id, sold.request_id],
    )
    assert {(r["kind"], r["output_asset"]) for r in rows} == {("trade", mint), ("trade", "SOL")}


async def test_a_lost_send_response_fills_once(stack: Stack, pool: asyncpg.Pool) -> None:
    stack.solana.faults.update({"lost_response_rate": 1.0, "only_methods": ["sendTransaction"]})
    try:
        result = await trade(stack, request(stack, "buy", "0.5"))
    finally:
        stack.solana.faults.update({"lost_response_rate": 0.0, "only_methods": None})
    assert result.status == "confirmed", result
    assert [v.version for v in result.versions] == [1]  # it had landed: never re-quoted
    assert [k for k, _, _ in await fills(pool, result.request_id)] == ["reserve", "debit", "fill"]


async def test_a_trade_refused_by_policy_reserves_nothing(stack: Stack, pool: asyncpg.Pool) -> None:
    # 900 SOL against a 10,000 SOL pool moves the price ~8%: above the 5% cap.
    impact = await trade(stack, request(stack, "buy", "900"))
    assert impact.status == "failed", impact
    assert "price impact" in (impact.reason or "") and "above the cap 5%" in (impact.reason or "")
    # The worker allows at most 300 bps whatever the request asks.
    loose = await trade(stack, request(stack, "buy", "0.1", slippage_bps=1000))
    assert loose.status == "failed" and "outside 1..300 bps" in (loose.reason or ""), loose
    pricey = await trade(stack, request(stack, "buy", "0.1", priority_fee=10**7))
    assert pricey.status == "failed" and "priority fee" in (pricey.reason or ""), pricey
    for result in (impact, loose, pricey):
        assert await ledger(pool, result.request_id) == []
        assert result.versions == []


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"token": "NOPE", "amount": "1"}, "unknown token 'NOPE' on solana"),
        ({"token": "SOL", "amount": "1"}, "unknown token 'SOL' on solana"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "0.0000000001"}, "more than 9 decimal places"),
        ({"amount": "1", "slippage_bps": 0}, "slippage must be 1..5000 bps"),
        ({"amount": "1", "slippage_bps": 5001}, "slippage must be 1..5000 bps"),
        ({"amount": "1", "request_id": "bad id!"}, "request id"),
    ],
)
async def test_bad_trade_input_gets_one_clear_line(
    stack: Stack, terms: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {
        "chain": "solana",
        "side": "buy",
        "token": "USDC",
        "request_id": new_request_id(),
        "requested_by": "x",
    } | terms
    with pytest.raises(UserError, match=message) as caught:
        trades.build_request(stack.settings, **args)
    assert "\n" not in str(caught.value)


async def test_no_trading_where_no_venue_is(stack: Stack) -> None:
    with pytest.raises(UserError, match="trading is not available on tron"):
        trades.build_request(
            stack.settings,
            chain="tron",
            side="buy",
            token="USDT",
            amount="1",
            request_id=new_request_id(),
            requested_by="x",
        )


async def test_raw_temporal_cannot_trade_without_a_trade_statement(
    stack: Stack, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    """Red team, with raw Temporal access: no statement, or a `withdraw` statement presented
    for a trade, moves nothing."""
    raw = await Client.connect(temporal_env.client.service_client.config.target_host)
    unsigned = request(stack, "buy", "0.2")
    as_withdrawal = request(stack, "buy", "0.2")
    signer = stack.signer("operator")
    statement = signer.statement(
        "withdraw", f"trade-{as_withdrawal.request_id}", as_withdrawal.withdraw_params()
    )
    as_withdrawal = as_withdrawal.model_copy(
        update={"intent": statement, "requested_by": signer.identity}
    )
    for req in (unsigned, as_withdrawal):
        result = await raw.execute_workflow(
            "TradeWorkflow",
            req.model_dump(mode="json"),
            id=f"trade-{req.request_id}",
            task_queue=stack.settings.task_queue("solana"),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        assert result["status"] == "rejected", result
        assert await ledger(pool, req.request_id) == []
    refusals = {
        r["subject"]: r["reason"]
        for r in await pool.fetch(
            "SELECT subject, reason FROM audit_log WHERE subject = ANY($1) AND outcome = 'refused'",
            [f"trade:{unsigned.request_id}", f"trade:{as_withdrawal.request_id}"],
        )
    }
    assert refusals[f"trade:{unsigned.request_id}"] == "no signed trade statement"
    assert "withdraw" in refusals[f"trade:{as_withdrawal.request_id}"], refusals


async def test_the_cli_trades_once_per_request_id(stack: Stack, tmp_path: Path) -> None:
    env = stack_cli_env(stack, tmp_path)
    rid = new_request_id()
    args = ("trade", "buy", "USDC", "0.25", "--request-id", rid, "--wait", "--json")
    r = await walletflow(env, *args)
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert doc["workflow_id"] == f"trade-{rid}" and doc["created"] is True
    assert (
        doc["result"]["status"] == "confirmed"
        and doc["result"]["fill"]["input_amount"] == 25 * 10**7
    )
    again = json.loads((await walletflow(env, *args)).out)
    assert again["created"] is False  # the same request id: nothing new

    bad = await walletflow(env, "trade", "buy", "NOPE", "1", "--request-id", new_request_id())
    assert bad.code == exits.ERROR and bad.err.strip().count("\n") == 0, bad
    assert "unknown token 'NOPE' on solana" in bad.err
    zero = await walletflow(env, "trade", "sell", "USDC", "0", "--request-id", new_request_id())
    assert zero.code == exits.ERROR and "amount" in zero.err, zero

    # Decisions name a trade by its workflow id: the statement is about `trade-<id>`.
    intent = await walletflow(env, "intent", "cancel", f"trade-{rid}")
    assert intent.code == 0 and json.loads(intent.out)["intent"]["intent"]["workflow_id"] == (
        f"trade-{rid}"
    ), intent
    late = await walletflow(env, "cancel", f"trade-{rid}")
    assert late.code == exits.REFUSED and f"trade {rid} is confirmed: too late" in late.err, late
    missing = await walletflow(env, "cancel", "trade-nope")
    assert missing.code == exits.ERROR and "no trade with request id 'nope'" in missing.err
