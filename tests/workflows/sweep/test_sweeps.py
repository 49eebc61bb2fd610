"""Deposit addresses, credits and sweeps end to end, against the devnets: each address is
derived from the key store's seed, each deposit credited once at finality (dust left out),
and each batch of credits swept once to the hot wallet, which pays the fees on Solana."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solders.pubkey import Pubkey
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

import chains
from chains import solana as sol
from core.errors import UserError
from core.ids import deposit_address_id, sweep_id
from core.models import WithdrawalRequest
from starter.client import deposits
from tests.support.chain_tx import sol_account, sol_send, usdc
from tests.support.cli import walletflow
from tests.support.monitor import tron_key, tron_send_many
from tests.support.stack import HOT_ACCOUNT, Stack, eventually, stack_cli_env
from tests.workflows.test_replay import HISTORIES

STACK = {
    "queues": ("solana", "tron", "notify"),
    "settings": {
        "DEPOSITS_CHAT": 4242,
        "SWEEP_THRESHOLDS": "SOL:0.2,USDC:1.5",
        "DEPOSIT_MINIMUMS": "SOL:0.001,USDC:0.01,TRX:1",
    },
}
SOL = 10**9
TRX = 10**6


def seed(stack: Stack) -> bytes:
    keys = Path(stack.settings.keystore.removeprefix("file:"))
    return bytes.fromhex(json.loads(keys.read_text())["deposit_seed"])


async def lamports(stack: Stack, address: str) -> int:
    async with AsyncClient(stack.solana.url, commitment=Finalized) as client:
        return (await client.get_balance(Pubkey.from_string(address))).value


async def token_account(stack: Stack, owner: str) -> Any:
    account = sol.associated_token_address(owner, usdc(stack.solana).id, sol.TOKEN_PROGRAM)
    async with AsyncClient(stack.solana.url, commitment=Finalized) as client:
        return (await client.get_account_info(Pubkey.from_string(account))).value


async def credits(pool: asyncpg.Pool, address: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT seq, symbol, amount, sweep_id FROM deposits WHERE address = $1 ORDER BY seq",
        address,
    )


async def swept(stack: Stack, sweep: str) -> dict[str, Any]:
    result = await stack.client.get_workflow_handle(sweep).result()
    return result if isinstance(result, dict) else result.model_dump()


async def test_a_customer_keeps_one_derived_address_per_chain(stack: Stack) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    first = await deposits.deposit_address(stack.client, stack.settings, "solana", customer)
    again = await deposits.deposit_address(stack.client, stack.settings, "solana", customer)
    on_tron = await deposits.deposit_address(stack.client, stack.settings, "tron", customer)
    other = await deposits.deposit_address(stack.client, stack.settings, "solana", customer + "x")
    assert again == first and on_tron.index == first.index
    assert other.address != first.address and other.index != first.index
    assert first.address == chains.get("solana").deposit_key(seed(stack), first.index)[0]
    assert on_tron.address == chains.get("tron").deposit_key(seed(stack), first.index)[0]


async def test_sol_and_usdc_deposits_are_credited_once_and_swept_once(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    hot = str(sol_account(stack.solana, HOT_ACCOUNT).pubkey())
    await deposits.authorize(pool, "solana", stack.signer("operator"), 1)
    payer, coin, token = (
        sol_account(stack.solana, 4),
        stack.settings.tokens("solana").native,
        usdc(stack.solana),
    )
    a = await deposits.deposit_address(
        stack.client, stack.settings, "solana", f"a-{uuid.uuid4().hex[:6]}"
    )
    b = await deposits.deposit_address(
        stack.client, stack.settings, "solana", f"b-{uuid.uuid4().hex[:6]}"
    )
    hot_before = await lamports(stack, hot)
    # Below the threshold: credited, not swept.
    await sol_send(stack.solana.url, payer, a.address, coin, SOL // 10)
    first = await eventually(lambda: credits(pool, a.address), timeout=60)
    assert [(r["symbol"], int(r["amount"]), r["sweep_id"]) for r in first] == [
        ("SOL", SOL // 10, None)
    ]
    # Past it (0.25 SOL): one sweep of both credits, named after the newest.
    await sol_send(stack.solana.url, payer, a.address, coin, SOL * 15 // 100)

    async def covered() -> list[asyncpg.Record] | None:
        rows = await credits(pool, a.address)
        return rows if len(rows) == 2 and all(r["sweep_id"] for r in rows) else None

    rows = await eventually(covered, timeout=60)
    sweep = sweep_id("solana", a.address, rows[-1]["seq"])
    assert {r["sweep_id"] for r in rows} == {sweep}
    result = await swept(stack, sweep)
    assert result["status"] == "confirmed", result
    assert await lamports(stack, a.address) == 0
    # The hot wallet got every lamport credited and paid the fee (two signatures).
    assert await lamports(stack, hot) - hot_before == SOL // 4 - 2 * 5000
    # USDC: dust is not credited; a sweep that empties the token account closes it.
    await sol_send(stack.solana.url, payer, b.address, token, 5_000)  # 0.005 USDC: dust
    await sol_send(stack.solana.url, payer, b.address, token, 1_500_000)
    rows = await eventually(covered_of(pool, b.address, 1), timeout=60)
    assert [int(r["amount"]) for r in rows] == [1_500_000]
    result = await swept(stack, rows[0]["sweep_id"])
    assert result["status"] == "confirmed", result
    left = await token_account(stack, b.address)
    assert left is not None and int.from_bytes(bytes(left.data)[64:72], "little") == 5_000
    # The ledger: each credit once, each a webhook event, the sweeps as money moves.
    events = await pool.fetchval(
        "SELECT count(*) FROM webhook_events WHERE type = 'deposit.credited' AND wallet = $1",
        a.address,
    )
    assert events == 2
    kinds = await pool.fetch(
        "SELECT kind, from_address, to_address, status FROM withdrawals WHERE request_id = $1",
        sweep,
    )
    assert [tuple(r) for r in kinds] == [("sweep", a.address, hot, "confirmed")]
    # Nothing left to sweep; the same sweep started again is the same one.
    with pytest.raises(UserError, match="nothing to sweep"):
        await deposits.sweep_now(stack.client, pool, stack.settings, "solana", a.address,
                                 stack.signer("operator"))  # fmt: skip


def covered_of(pool: asyncpg.Pool, address: str, count: int) -> Any:
    async def check() -> list[asyncpg.Record] | None:
        rows = await credits(pool, address)
        return rows if len(rows) == count and all(r["sweep_id"] for r in rows) else None

    return check


async def test_a_usdc_sweep_that_empties_the_account_closes_it(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    await deposits.authorize(pool, "solana", stack.signer("operator"), 1)
    c = await deposits.deposit_address(
        stack.client, stack.settings, "solana", f"c-{uuid.uuid4().hex[:6]}"
    )
    await sol_send(
        stack.solana.url, sol_account(stack.solana, 5), c.address, usdc(stack.solana), 2_000_000
    )
    [row] = await eventually(covered_of(pool, c.address, 1), timeout=60)
    result = await swept(stack, row["sweep_id"])
    assert result["status"] == "confirmed", result
    assert await token_account(stack, c.address) is None  # closed: its rent went to the hot wallet
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # for tests/workflows/test_replay.py
        for kept in (row["sweep_id"], deposit_address_id("solana", c.customer)):
            history = await stack.client.get_workflow_handle(kept).fetch_history()
            (HISTORIES / f"{kept}.json").write_text(history.to_json() + "\n")


async def test_a_trx_deposit_is_swept_on_request_with_free_bandwidth(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    t = await deposits.deposit_address(
        stack.client, stack.settings, "tron", f"t-{uuid.uuid4().hex[:6]}"
    )
    with pytest.raises(UserError, match="nothing to sweep"):
        await deposits.sweep_now(stack.client, pool, stack.settings, "tron", t.address,
                                 stack.signer("operator"))  # fmt: skip
    await tron_send_many(stack.tron.url, tron_key(stack.tron, 6), t.address, [5 * TRX])
    await eventually(lambda: credits(pool, t.address), timeout=60)
    [started] = await deposits.sweep_now(stack.client, pool, stack.settings, "tron", t.address,
                                         stack.signer("operator"))  # fmt: skip
    result = await swept(stack, started)
    assert result["status"] == "confirmed", result
    moved = await pool.fetchval("SELECT amount FROM withdrawals WHERE request_id = $1", started)
    assert int(moved) == 5 * TRX  # free bandwidth: nothing burned
    # USDT needs energy the address has not got: refused, and its credit stays uncovered.
    usdt = stack.tron.info()["trc20_contract"]
    await tron_send_many(
        stack.tron.url, tron_key(stack.tron, 6), t.address, [2 * 10**6], token=usdt
    )
    await eventually(lambda: usdt_credit(pool, t.address), timeout=60)
    [refused] = await deposits.sweep_now(stack.client, pool, stack.settings, "tron", t.address,
                                         stack.signer("operator"))  # fmt: skip
    result = await swept(stack, refused)
    assert result["status"] == "failed" and "TRC20 sweeps are not built yet" in result["reason"]
    assert [r["sweep_id"] for r in await usdt_credit(pool, t.address)] == [None]


async def usdt_credit(pool: asyncpg.Pool, address: str) -> list[asyncpg.Record]:
    rows = await credits(pool, address)
    return [r for r in rows if r["symbol"] == "USDT"]


async def test_bad_sweep_requests_get_one_line_and_start_nothing(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    stranger = str(sol_account(stack.solana, 7).pubkey())
    with pytest.raises(UserError, match="is not a solana deposit address"):
        await deposits.sweep_now(stack.client, pool, stack.settings, "solana", stranger,
                                 stack.signer("operator"))  # fmt: skip
    for customer in ("", "has space", "x" * 65, "-leading"):
        with pytest.raises(UserError, match="customer"):
            await deposits.deposit_address(stack.client, stack.settings, "solana", customer)
    with pytest.raises(UserError, match="--days"):
        await deposits.authorize(pool, "solana", stack.signer("operator"), 0)


async def test_sweeps_cannot_be_started_without_an_admins_statement(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    """Raw Temporal access: no statement, a requester's or approver's statement, or a
    misnamed id all end the sweep before anything is claimed or signed."""
    raw = await Client.connect(stack.client.service_client.config.target_host,
                               namespace=stack.client.namespace)  # fmt: skip
    d = await deposits.deposit_address(
        stack.client, stack.settings, "solana", f"r-{uuid.uuid4().hex[:6]}"
    )
    await sol_send(stack.solana.url, sol_account(stack.solana, 8), d.address,
                   stack.settings.tokens("solana").native, SOL // 20)  # fmt: skip
    [row] = await eventually(lambda: credits(pool, d.address), timeout=60)
    queue = stack.settings.task_queue("solana")

    def order(intent: Any, newest: int) -> dict[str, Any]:
        return WithdrawalRequest(
            request_id=sweep_id("solana", d.address, newest), chain="solana", asset="SOL",
            to=d.address, amount="0.05", requested_by="anyone",
            notify_queue=stack.settings.task_queue("notify"), intent=intent,
            sweep={"address": d.address, "newest": newest},
        ).model_dump(mode="json")  # fmt: skip

    approver = stack.signer("approver").statement("sweep", "sweeps-solana", {"chain": "solana"})
    admin = stack.signer("operator").statement("sweep", "sweeps-solana", {"chain": "solana"})
    cases = [
        (order(None, row["seq"]), "no signed sweep statement"),
        (order(approver.model_dump(mode="json"), row["seq"]), "role"),
        (order(admin.model_dump(mode="json"), row["seq"] + 1), "is sweep-solana-"),
    ]
    for n, (req, why) in enumerate(cases):
        # The third names the credit's own sweep id, but orders a later credit.
        workflow_id = req["request_id"] if n < 2 else sweep_id("solana", d.address, row["seq"])
        result = await raw.execute_workflow(
            "SweepWorkflow", req, id=workflow_id, task_queue=queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )  # fmt: skip
        assert result["status"] == "rejected" and why in result["reason"], result
    assert [r["sweep_id"] for r in await credits(pool, d.address)] == [None]
    assert (
        await pool.fetchval("SELECT count(*) FROM withdrawals WHERE from_address = $1", d.address)
        == 0
    )


async def test_the_cli_gives_addresses_lists_deposits_and_refuses_bad_input(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    env = stack_cli_env(stack, tmp_path)
    customer = f"cli-{uuid.uuid4().hex[:6]}"
    first = await walletflow(env, "deposit-address", "solana", customer, "--json")
    assert first.code == 0, first.err
    found = json.loads(first.out)
    again = await walletflow(env, "deposit-address", "solana", customer, "--json")
    assert json.loads(again.out) == found and found["customer"] == customer
    await sol_send(stack.solana.url, sol_account(stack.solana, 9), found["address"],
                   stack.settings.tokens("solana").native, SOL // 50)  # fmt: skip
    await eventually(lambda: credits(pool, found["address"]), timeout=60)
    listed = await walletflow(env, "deposits", "--customer", customer, "--json")
    assert [(d["address"], d["amount"], d["sweep_id"]) for d in json.loads(listed.out)] == [
        (found["address"], str(SOL // 50), None)
    ]
    swept_now = await walletflow(env, "sweep", "solana", found["address"], "--json")
    assert swept_now.code == 0, swept_now.err
    [started] = json.loads(swept_now.out)["sweeps"]
    assert (await swept(stack, started))["status"] == "confirmed"
    rows = json.loads((await walletflow(env, "sweeps", "--json")).out)
    assert [r["status"] for r in rows if r["sweep_id"] == started] == ["confirmed"]
    # Bad input: one line on stderr, exit 1, nothing changed.
    stranger = str(sol_account(stack.solana, 7).pubkey())
    before = await pool.fetchval("SELECT count(*) FROM deposit_addresses")
    for args, why in [
        (("deposit-address", "solana", "bad customer"), "customer 'bad customer'"),
        (("deposit-address", "ether", customer), "unknown chain"),
        (("sweep", "solana", stranger), "is not a solana deposit address"),
        (("sweeps", "authorize", "solana", "--days", "0"), "--days must be above 0"),
    ]:
        r = await walletflow(env, *args)
        assert r.code == 1 and why in r.err and len(r.err.strip().splitlines()) == 1, (args, r)
    assert await pool.fetchval("SELECT count(*) FROM deposit_addresses") == before


def test_a_sweep_threshold_must_be_above_zero(stack: Stack) -> None:
    settings = stack.settings.model_copy(update={"sweep_thresholds": "SOL:0"})
    with pytest.raises(UserError, match="SWEEP_THRESHOLDS: SOL must be above 0"):
        settings.deposit_amounts("sweep_thresholds", "solana", positive=True)
    settings = stack.settings.model_copy(update={"sweep_thresholds": "SOL:-1"})
    with pytest.raises(UserError, match="SWEEP_THRESHOLDS"):
        settings.deposit_amounts("sweep_thresholds", "solana", positive=True)
