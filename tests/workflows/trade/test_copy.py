"""Copy trading end to end: a leader's swaps at the devnet venue, seen by its monitor, copied by
the follower's `copy-{follower}-{leader}` as child trades `trade-copy-{follower}-{signature}`,
each at most once, within the signed rules."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token.instructions import get_associated_token_address
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from chains.solana import SOL_MINT
from chains.solana.signing import add_signature
from core.copying import CopyGrant, CopyRules, CopyStatus, LeaderSwap
from core.errors import UserError
from core.ids import copy_id, monitor_id
from starter.cli import exits
from starter.client import copies, trades, withdrawals
from starter.client.withdrawals import TRADE
from tests.support.chain_tx import sol_account, sol_send
from tests.support.cli import walletflow
from tests.support.stack import Stack, eventually, messages, stack_cli_env
from workflows.copy import CopyTradeWorkflow

STACK = {"queues": ("solana", "notify"), "triggers": True}
HISTORIES = Path(__file__).parent.parent / "histories"
SOL = 10**9


async def leader_swap(stack: Stack, leader: Keypair, sold: str, bought: str, amount: int) -> str:
    """The leader swaps at the venue with plain HTTP and solana-py; its signature."""
    info = stack.devnets["solana"]
    async with httpx.AsyncClient() as http:
        params: dict[str, str | int] = {
            "inputMint": sold,
            "outputMint": bought,
            "amount": amount,
            "slippageBps": 100,
        }
        quote = (await http.get(f"{info['swap_url']}/quote", params=params)).json()
        body = {"quoteResponse": quote, "userPublicKey": str(leader.pubkey())}
        swap = (await http.post(f"{info['swap_url']}/swap", json=body)).json()
    tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
    async with AsyncClient(stack.solana.url) as rpc:
        opts = TxOpts(preflight_commitment=Confirmed)
        sent = await rpc.send_raw_transaction(bytes(add_signature(tx, leader)), opts=opts)
    return str(sent.value)


async def funded_leader(stack: Stack, index: int) -> Keypair:
    """A fresh leader with SOL only, so the fraction it sells is its own."""
    leader = Keypair()
    native = stack.settings.tokens("solana").native
    await sol_send(
        stack.solana.url, sol_account(stack.solana, index), str(leader.pubkey()), native, 5 * SOL
    )

    async def funded() -> bool:
        async with AsyncClient(stack.solana.url) as rpc:
            return (await rpc.get_balance(leader.pubkey(), Confirmed)).value > 0

    await eventually(funded)
    return leader


async def start_copy(stack: Stack, leader: Keypair, **rules: Any) -> str:
    req = copies.build_request(
        stack.settings, leader=str(leader.pubkey()), rules=CopyRules(**rules), chat=4242
    )
    req = copies.signed(req, stack.signer("operator"))
    workflow_id, created = await copies.start(stack.client, stack.settings, req)
    assert created
    return workflow_id


async def status(stack: Stack, workflow_id: str) -> CopyStatus:
    result: CopyStatus = await stack.client.get_workflow_handle(workflow_id).query(
        CopyTradeWorkflow.status
    )
    return result


async def test_a_leaders_buy_and_half_sell_are_copied_once_each(
    stack: Stack, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    leader = await funded_leader(stack, 8)
    usdc = str(stack.devnets["solana"]["spl_mint"])
    workflow_id = await start_copy(stack, leader, sol_per_buy="0.2", min_liquidity="5000")
    assert workflow_id == copy_id("operator", str(leader.pubkey()))

    bought = await leader_swap(stack, leader, SOL_MINT, usdc, SOL)

    async def filled(signature: str) -> CopyStatus | None:
        current = await status(stack, workflow_id)
        done = [c for c in current.copied if c.signature == signature and c.status == "confirmed"]
        return current if done else None

    after_buy = await eventually(lambda: filled(bought), timeout=60)
    [position] = after_buy.positions
    assert position.asset == usdc and position.amount > 0
    assert position.cost == SOL // 5 and after_buy.spent_today == SOL // 5
    trade_id = f"trade-copy-operator-{bought}"
    assert [c.trade_id for c in after_buy.copied if c.side == "buy"] == [trade_id]

    # The follower's message for the copy: both trades, each with its explorer link.
    async def told() -> dict[str, Any] | None:
        found = [m for m in await messages(stack.telegram, 4242) if trade_id in m["plain_text"]]
        return found[0] if found else None

    note = await eventually(told)
    assert "Copied" in note["plain_text"] and "confirmed" in note["plain_text"]
    assert f"/tx/{bought}" in note["text"]  # the leader's trade
    trade = await withdrawals.status(stack.client, f"copy-operator-{bought}", TRADE)
    assert trade.tx_id is not None and f"/tx/{trade.tx_id}" in note["text"]  # the follower's

    # The leader sells half of what it bought: the follower sells half of its position.
    async with AsyncClient(stack.solana.url) as rpc:
        ata = get_associated_token_address(leader.pubkey(), Pubkey.from_string(usdc))
        held = int((await rpc.get_token_account_balance(ata, Confirmed)).value.amount)
    sold = await leader_swap(stack, leader, usdc, SOL_MINT, held // 2)
    after_sell = await eventually(lambda: filled(sold), timeout=60)
    [left] = after_sell.positions
    assert abs(left.amount - (position.amount - position.amount * (held // 2) // held)) <= 1
    assert left.realized != 0  # proceeds minus the cost of what was sold

    # A repeated report of the buy (a raw signal, as a replayed event would be): no new trade.
    raw = await Client.connect(temporal_env.client.service_client.config.target_host)
    repeat = LeaderSwap(
        leader=str(leader.pubkey()), signature=bought, gave_asset="SOL", gave_symbol="SOL",
        gave_decimals=9, gave_amount=SOL, got_asset=usdc, got_symbol="USDC", got_decimals=6,
        got_amount=1,
    )  # fmt: skip
    await raw.get_workflow_handle(workflow_id).signal("leader_swap", repeat.model_dump(mode="json"))
    final = await status(stack, workflow_id)
    rows = await pool.fetch(
        "SELECT request_id FROM withdrawals WHERE kind = 'trade' AND request_id LIKE $1",
        "copy-operator-%",
    )
    mine = {r["request_id"] for r in rows} & {f"copy-operator-{bought}", f"copy-operator-{sold}"}
    assert mine == {f"copy-operator-{bought}", f"copy-operator-{sold}"}
    assert len([c for c in final.copied if c.signature == bought]) == 1

    await copies.stop(stack.client, "operator", str(leader.pubkey()))
    handle = stack.client.get_workflow_handle_for(CopyTradeWorkflow.run, workflow_id)
    ended = await handle.result()
    assert ended.state == "stopped"
    # WALLETFLOW_RECORD_HISTORIES=1: keep both histories for tests/workflows/test_replay.py.
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):
        leader_monitor = monitor_id("solana", str(leader.pubkey()))
        await stack.client.get_workflow_handle(leader_monitor).result()  # no copier: it ends
        for wid in (workflow_id, trade_id, leader_monitor):
            history = await stack.client.get_workflow_handle(wid).fetch_history()
            (HISTORIES / f"{wid}.json").write_text(history.to_json() + "\n")


async def test_a_copied_trade_cannot_be_started_outside_its_copy(
    stack: Stack, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    """Red team: a standing `copy` statement read from history, presented by a raw client as
    the authority for a trade it starts itself, moves nothing."""
    leader = await funded_leader(stack, 9)
    workflow_id = await start_copy(stack, leader, sol_per_buy="0.1")
    req = copies.signed(
        copies.build_request(
            stack.settings,
            leader=str(leader.pubkey()),
            rules=CopyRules(sol_per_buy="0.1"),
            chat=None,
        ),
        stack.signer("operator"),
    )
    trade = trades.build_request(
        stack.settings, chain="solana", side="buy", token="USDC", amount="0.1",
        request_id="forged", requested_by="operator", slippage_bps=100,
    )  # fmt: skip
    assert req.intent is not None
    trade = trade.model_copy(
        update={
            "request_id": "copy-operator-forged",  # a raw client sets what it likes
            "copied_by": CopyGrant(
                parent=workflow_id, leader=req.leader, rules=req.rules, intent=req.intent
            ),
        }
    )
    raw = await Client.connect(temporal_env.client.service_client.config.target_host)
    result = await raw.execute_workflow(
        "TradeWorkflow",
        trade.model_dump(mode="json"),
        id="trade-copy-operator-forged",
        task_queue=stack.settings.task_queue("solana"),
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    assert result["status"] == "rejected", result
    assert result["reason"] == f"a copied trade must be started by {workflow_id}"
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE request_id = 'copy-operator-forged'"
        )
        == 0
    )
    await copies.stop(stack.client, "operator", str(leader.pubkey()))


@pytest.mark.parametrize(
    ("leader", "rules", "message"),
    [
        ("not-an-address", {"sol_per_buy": "0.1"}, "the leader is not an address"),
        (None, {"sol_per_buy": "0"}, "--sol must be greater than 0"),
        (
            None,
            {"sol_per_buy": None, "pct_of_leader": "150"},
            "--pct must be greater than 0 and at most 100",
        ),
        (None, {"sol_per_buy": "0.1", "pct_of_leader": "10"}, "either a fixed amount"),
        (None, {"sol_per_buy": "0.1", "allow": ["NOPE"]}, "unknown token 'NOPE'"),
        ("hot", {"sol_per_buy": "0.1"}, "copying yourself"),
        (None, {"stop_loss_pct": "100"}, "--stop-loss must be under 100"),
        (None, {"take_profit_pct": "-5"}, "--take-profit must be greater than 0"),
        (None, {"take_profit_sell_pct": "50"}, "--take-profit-sell needs --take-profit"),
        (
            None,
            {"take_profit_pct": "50", "take_profit_sell_pct": "120"},
            "--take-profit-sell must be greater than 0 and at most 100",
        ),
    ],
)
async def test_bad_copy_input_gets_one_clear_line(
    stack: Stack, leader: str | None, rules: dict[str, Any], message: str
) -> None:
    settings = stack.settings
    if leader is None:
        leader = str(Keypair().pubkey())
    elif leader == "hot":
        leader = stack.devnets["solana"]["accounts"][19]["address"]
        settings = settings.model_copy(update={"solana_hot_wallet": leader})
    with pytest.raises(UserError, match=message) as caught:
        copies.build_request(settings, leader=leader, rules=CopyRules(**rules), chat=None)
    assert "\n" not in str(caught.value)


async def test_the_cli_copies_lists_and_uncopies(stack: Stack, tmp_path: Path) -> None:
    env = stack_cli_env(stack, tmp_path)
    leader = str(Keypair().pubkey())
    started = await walletflow(env, "copy", leader, "--sol", "0.05", "--deny", "PYUSD", "--json")
    assert started.code == 0, started
    doc = json.loads(started.out)
    assert doc == {"workflow_id": f"copy-operator-{leader}", "created": True}
    again = json.loads((await walletflow(env, "copy", leader, "--sol", "0.05", "--json")).out)
    assert again["created"] is False

    async def listed() -> dict[str, Any] | None:
        found = json.loads((await walletflow(env, "copies", "--json")).out)
        return next((c for c in found if c["leader"] == leader), None)

    copy = await eventually(listed)
    assert copy["state"] == "running" and copy["rules"]["deny"] == ["PYUSD"]
    stopped = await walletflow(env, "uncopy", leader, "--json")
    assert stopped.code == 0 and json.loads(stopped.out)["stopping"] is True

    bad = await walletflow(env, "copy", "not-an-address", "--sol", "0.1")
    assert bad.code == exits.ERROR and "the leader is not an address" in bad.err, bad
    assert bad.err.strip().count("\n") == 0
    neither = await walletflow(env, "copy", leader)
    assert neither.code == exits.ERROR and "either a fixed amount" in neither.err, neither
    gone = await walletflow(env, "uncopy", str(Keypair().pubkey()))
    assert gone.code == exits.ERROR and "does not copy" in gone.err, gone


async def test_a_paused_copy_skips_and_a_resumed_one_copies(stack: Stack) -> None:
    leader = await funded_leader(stack, 10)
    usdc = str(stack.devnets["solana"]["spl_mint"])
    workflow_id = await start_copy(stack, leader, sol_per_buy="0.05")
    handle = stack.client.get_workflow_handle(workflow_id)
    await handle.signal(CopyTradeWorkflow.pause)
    skipped = await leader_swap(stack, leader, SOL_MINT, usdc, SOL // 10)

    async def copied(signature: str) -> CopyStatus | None:
        current = await status(stack, workflow_id)
        return current if any(c.signature == signature for c in current.copied) else None

    paused = await eventually(lambda: copied(skipped), timeout=60)
    assert paused.state == "paused"
    assert [(c.side, c.reason) for c in paused.copied if c.signature == skipped] == [
        ("skip", "paused")
    ]
    await handle.signal(CopyTradeWorkflow.resume)
    taken = await leader_swap(stack, leader, SOL_MINT, usdc, SOL // 10)
    resumed = await eventually(lambda: copied(taken), timeout=60)
    assert [c.side for c in resumed.copied if c.signature == taken] == ["buy"]
    await copies.stop(stack.client, "operator", str(leader.pubkey()))


@pytest.mark.parametrize(
    ("funder", "rules", "reason"),
    [
        (11, {"max_price_impact": "0.000001"}, "above the cap 0.0001%"),
        (12, {"min_liquidity": "20000"}, "below the minimum liquidity 20000 SOL"),
    ],
    ids=["price-impact", "min-liquidity"],
)
async def test_a_copy_into_a_pool_too_thin_for_its_rules_trades_nothing(
    stack: Stack, pool: asyncpg.Pool, funder: int, rules: dict[str, Any], reason: str
) -> None:
    """The copy's own price-impact cap (stricter than the worker's) and minimum liquidity
    (the USDC/SOL pool holds about 10,000 SOL) stop the copied trade as it is priced: failed,
    the reservation released, nothing on chain."""
    leader = await funded_leader(stack, funder)
    usdc = str(stack.devnets["solana"]["spl_mint"])
    workflow_id = await start_copy(stack, leader, sol_per_buy="0.05", **rules)
    bought = await leader_swap(stack, leader, SOL_MINT, usdc, SOL // 10)

    async def ended() -> CopyStatus | None:
        current = await status(stack, workflow_id)
        done = [c for c in current.copied if c.signature == bought and c.status == "failed"]
        return current if done else None

    current = await eventually(ended, timeout=60)
    [copy] = [c for c in current.copied if c.signature == bought]
    assert copy.reason is not None and reason in copy.reason, copy
    kinds = await pool.fetch(
        "SELECT kind FROM ledger_entries WHERE request_id = $1", f"copy-operator-{bought}"
    )
    assert sorted(r["kind"] for r in kinds) == ["release", "reserve"]
    assert current.spent_today == 0 and current.positions == []
    await copies.stop(stack.client, "operator", str(leader.pubkey()))
