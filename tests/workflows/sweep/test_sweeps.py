"""Deposit addresses, credits and sweeps end to end, against the devnets: each address is
derived from the key store's seed, each deposit credited once at finality (dust left out),
and each batch of credits swept once to the hot wallet, which pays the fees on Solana."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solders.pubkey import Pubkey
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.common import WorkflowIDReusePolicy
from tronpy import AsyncTron
from tronpy.exceptions import AddressNotFound
from tronpy.keys import PrivateKey
from tronpy.providers.async_http import AsyncHTTPProvider

import chains
from activities.sweeps import start_sweep
from chains import solana as sol
from core.errors import UserError
from core.ids import deposit_address_id, deposits_schedule_id, sweep_id, sweeps_scope
from core.models import WithdrawalRequest
from starter.client import deposits
from store import deposits as store_deposits
from tests.support.chain_tx import sol_account, sol_send, usdc
from tests.support.cli import walletflow
from tests.support.monitor import tron_address, tron_key, tron_send_many, tron_wait_solid
from tests.support.stack import SPARE_HOT_ACCOUNT, Stack, eventually, messages, stack_cli_env
from tests.workflows.test_replay import HISTORIES
from worker_main import ensure_deposit_schedule

STACK = {
    "queues": ("solana", "tron", "notify"),
    "hot_account": SPARE_HOT_ACCOUNT,  # it stakes TRX for energy
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


async def test_without_a_chat_a_deposit_address_is_watched_silently(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    """No --chat and no DEPOSITS_CHAT: credited all the same, and nobody is messaged."""
    settings = stack.settings.model_copy(update={"deposits_chat": None})
    d = await deposits.deposit_address(
        stack.client, settings, "solana", f"q-{uuid.uuid4().hex[:6]}"
    )
    await sol_send(stack.solana.url, sol_account(stack.solana, 11), d.address,
                   stack.settings.tokens("solana").native, SOL // 100)  # fmt: skip
    await eventually(lambda: credits(pool, d.address), timeout=120)
    subscribers = await pool.fetch(
        "SELECT chat_id FROM subscriptions WHERE address = $1", d.address
    )
    assert [r["chat_id"] for r in subscribers] == [0]
    assert await messages(stack.telegram, 0) == []


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
    hot = str(sol_account(stack.solana, stack.hot_account).pubkey())
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
    first = await eventually(lambda: credits(pool, a.address), timeout=120)
    assert [(r["symbol"], int(r["amount"]), r["sweep_id"]) for r in first] == [
        ("SOL", SOL // 10, None)
    ]
    # Past it (0.25 SOL): one sweep of both credits, named after the newest.
    await sol_send(stack.solana.url, payer, a.address, coin, SOL * 15 // 100)

    async def covered() -> list[asyncpg.Record] | None:
        rows = await credits(pool, a.address)
        return rows if len(rows) == 2 and all(r["sweep_id"] for r in rows) else None

    rows = await eventually(covered, timeout=120)
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
    rows = await eventually(covered_of(pool, b.address, 1), timeout=120)
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


def covered_of(pool: asyncpg.Pool, address: str, count: int, uncovered: int = 0) -> Any:
    """Waits for `count` credits at the address, all but `uncovered` of them covered."""

    async def check() -> list[asyncpg.Record] | None:
        rows = await credits(pool, address)
        bare = sum(r["sweep_id"] is None for r in rows)
        return rows if len(rows) == count and bare == uncovered else None

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
    [row] = await eventually(covered_of(pool, c.address, 1), timeout=120)
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
    await eventually(lambda: credits(pool, t.address), timeout=120)
    [started] = await deposits.sweep_now(stack.client, pool, stack.settings, "tron", t.address,
                                         stack.signer("operator"))  # fmt: skip
    result = await swept(stack, started)
    assert result["status"] == "confirmed", result
    moved = await pool.fetchval("SELECT amount FROM withdrawals WHERE request_id = $1", started)
    assert int(moved) == 5 * TRX  # free bandwidth: nothing burned
    # A second deposit, then 2 TRX taken out behind the ledger's back (with the address's
    # derived key): the address holds less than credited, so the sweep is refused before it
    # is registered, and its credit stays uncovered for whoever explains the difference.
    await tron_send_many(stack.tron.url, tron_key(stack.tron, 6), t.address, [3 * TRX])
    await eventually(covered_of(pool, t.address, 2, uncovered=1), timeout=120)
    secret = chains.get("tron").deposit_key(seed(stack), t.index)[1]
    taken = PrivateKey(bytes.fromhex(secret))
    await tron_send_many(stack.tron.url, taken, tron_address(tron_key(stack.tron, 6)), [2 * TRX])
    [refused] = await deposits.sweep_now(stack.client, pool, stack.settings, "tron", t.address,
                                         stack.signer("operator"))  # fmt: skip
    result = await swept(stack, refused)
    assert result["status"] == "failed" and "credited" in result["reason"], result
    assert [r["sweep_id"] for r in await credits(pool, t.address)][-1] is None


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
    [row] = await eventually(lambda: credits(pool, d.address), timeout=120)
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
    await eventually(lambda: credits(pool, found["address"]), timeout=120)
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


async def trx_of(stack: Stack, address: str) -> int:
    async with AsyncTron(AsyncHTTPProvider(stack.tron.url)) as client:
        try:
            return int((await client.get_account(address)).get("balance", 0))
        except AddressNotFound:
            return 0


async def lent_by(stack: Stack, address: str) -> int:
    async with AsyncTron(AsyncHTTPProvider(stack.tron.url)) as client:
        account = await client.get_account(address)
    return int(account.get("account_resource", {}).get("delegated_frozenV2_balance_for_energy", 0))


async def hot_wallet_call(stack: Stack, build: Any) -> None:
    """A resource call by the TRON hot wallet, through tronpy, until solidified."""
    key = tron_key(stack.tron, stack.hot_account)
    async with AsyncTron(AsyncHTTPProvider(stack.tron.url)) as client:
        tx = await build(client, key.public_key.to_base58check_address()).build()
        await tx.sign(key).broadcast()
        await tron_wait_solid(stack.tron.url, [tx.txid])


async def usdt_credited(stack: Stack, pool: asyncpg.Pool, label: str) -> str:
    """A fresh deposit address credited 3 USDT (it has no TRX, it is not even activated)."""
    d = await deposits.deposit_address(
        stack.client, stack.settings, "tron", f"{label}-{uuid.uuid4().hex[:6]}"
    )
    usdt = stack.tron.info()["trc20_contract"]
    await tron_send_many(
        stack.tron.url, tron_key(stack.tron, 6), d.address, [3 * 10**6], token=usdt
    )
    await eventually(lambda: usdt_credit(pool, d.address), timeout=120)
    return d.address


async def sweep_now(stack: Stack, pool: asyncpg.Pool, address: str) -> str:
    [started] = await deposits.sweep_now(stack.client, pool, stack.settings, "tron", address,
                                         stack.signer("operator"))  # fmt: skip
    return started


async def usdt_deposit(stack: Stack, pool: asyncpg.Pool, label: str) -> tuple[str, str]:
    """`usdt_credited`, and its sweep started: (address, sweep id)."""
    address = await usdt_credited(stack, pool, label)
    return address, await sweep_now(stack, pool, address)


async def steps_of(pool: asyncpg.Pool, sweep: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        """SELECT request_id, status FROM withdrawals WHERE request_id LIKE $1 || '-%'
           ORDER BY created_at""",
        sweep,
    )
    return [(r["request_id"].removeprefix(sweep + "-"), r["status"]) for r in rows]


async def test_a_usdt_sweep_gets_energy_first_lent_or_topped_up(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    """Without energy the address's transfer would run out (OUT_OF_ENERGY, see the devnet's
    tests): the sweep activates the address, lends it the hot wallet's staked energy, sends,
    and takes the energy back; with no stake left to lend it tops the address up instead."""
    hot = tron_address(tron_key(stack.tron, stack.hot_account))
    await hot_wallet_call(stack, lambda c, me: c.trx.freeze_balance(me, 20_000 * TRX, "ENERGY"))
    hot_usdt = await TronUsdt.open(stack)
    before_usdt, before_trx = await hot_usdt.balance(hot), await trx_of(stack, hot)
    address, sweep = await usdt_deposit(stack, pool, "lent")
    result = await swept(stack, sweep)
    assert result["status"] == "confirmed", result
    assert await steps_of(pool, sweep) == [
        ("activate", "confirmed"), ("delegate", "confirmed"), ("undelegate", "confirmed")
    ]  # fmt: skip
    assert await hot_usdt.balance(hot) - before_usdt == 3 * 10**6
    assert await lent_by(stack, hot) == 0  # the energy is back
    assert await trx_of(stack, address) == 1  # the activation's sun: all that stays there
    burned_lent = before_trx - await trx_of(stack, hot) - 1
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # a sweep with steps, and one step
        for kept in (sweep, f"{sweep}-delegate"):
            history = await stack.client.get_workflow_handle(kept).fetch_history()
            (HISTORIES / f"{kept}.json").write_text(history.to_json() + "\n")
    # No stake left to lend: the sweep tops the address up with TRX to burn.
    await hot_wallet_call(stack, lambda c, me: c.trx.delegate_resource(
        me, tron_address(tron_key(stack.tron, 7)), 20_000 * TRX, "ENERGY"))  # fmt: skip
    try:
        before_trx = await trx_of(stack, hot)
        address, sweep = await usdt_deposit(stack, pool, "topped")
        result = await swept(stack, sweep)
        assert result["status"] == "confirmed", result
        assert await steps_of(pool, sweep) == [("topup", "confirmed")]
        topup = int(await pool.fetchval(
            "SELECT amount FROM withdrawals WHERE request_id = $1", f"{sweep}-topup"))  # fmt: skip
        left = await trx_of(stack, address)
        assert 0 <= left <= topup // 10, (left, topup)  # at most the energy margin stays
        burned_topped = before_trx - await trx_of(stack, hot) - left
    finally:
        await hot_wallet_call(stack, lambda c, me: c.trx.undelegate_resource(
            me, tron_address(tron_key(stack.tron, 7)), 20_000 * TRX, "ENERGY"))  # fmt: skip
    # Lending costs the activation (1 TRX burned, 0.1 TRX of bandwidth) and bandwidth; a
    # top-up burns the transfer's energy as TRX.
    assert burned_lent < burned_topped / 2, (burned_lent, burned_topped)
    print(
        f"TRX burned per USDT sweep: lent energy {burned_lent / TRX}, top-up {burned_topped / TRX}"
    )


async def test_a_loan_refused_midway_is_bought_and_a_failed_sweep_is_swept_again(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Chaos at the two places it hurts: the stake's delegation refused after the activation
    landed (the sweep buys the energy instead), then the sweep itself never landing (it fails
    and gives its credits back). The next start sweeps those credits as attempt 2, once."""
    hot = tron_address(tron_key(stack.tron, stack.hot_account))
    await hot_wallet_call(stack, lambda c, me: c.trx.freeze_balance(me, 20_000 * TRX, "ENERGY"))
    hot_usdt = await TronUsdt.open(stack)
    before = await hot_usdt.balance(hot)
    address = await usdt_credited(stack, pool, "refused")
    stack.tron.faults.update(
        {"refuse_rate": 1, "refuse_kinds": ["DelegateResourceContract", "TriggerSmartContract"]}
    )
    first = await sweep_now(stack, pool, address)
    result = await swept(stack, first)
    assert result["status"] == "failed", result
    assert await steps_of(pool, first) == [
        ("activate", "confirmed"), ("delegate", "failed"), ("buy", "confirmed")
    ]  # fmt: skip
    assert [r["sweep_id"] for r in await usdt_credit(pool, address)] == [None]  # given back
    assert await lent_by(stack, hot) == 0  # never lent
    stack.tron.faults.update({"refuse_rate": 0, "refuse_kinds": None})
    bought = int(await pool.fetchval(
        "SELECT amount FROM withdrawals WHERE request_id = $1", f"{first}-buy"))  # fmt: skip
    again = await sweep_now(stack, pool, address)
    assert again == f"{first}-try2"
    result = await swept(stack, again)
    assert result["status"] == "confirmed", result
    # The TRX the first attempt bought is still at the address: it pays, nothing is sent.
    assert await steps_of(pool, again) == []
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # a refused loan bought; an attempt 2
        for kept in (first, again):
            history = await stack.client.get_workflow_handle(kept).fetch_history()
            (HISTORIES / f"{kept}.json").write_text(history.to_json() + "\n")
    assert await trx_of(stack, address) <= bought // 10 + 1  # at most the margin stays
    assert [r["sweep_id"] for r in await usdt_credit(pool, address)] == [again]
    assert await hot_usdt.balance(hot) - before == 3 * 10**6  # once, whatever the attempts
    assert await lent_by(stack, hot) == 0
    # The ledger keeps both attempts; nothing is left to sweep.
    statuses = await pool.fetch(
        "SELECT request_id, status FROM withdrawals WHERE request_id = ANY($1::text[])",
        [first, again],
    )
    assert sorted((r["request_id"], r["status"]) for r in statuses) == [
        (first, "failed"), (again, "confirmed")
    ]  # fmt: skip
    r = await walletflow(stack_cli_env(stack, tmp_path), "sweep", "tron", address)
    assert r.code == 1 and "nothing to sweep" in r.err, r


class TronUsdt:
    def __init__(self, contract: Any, client: AsyncTron) -> None:
        self.contract, self.client = contract, client

    @classmethod
    async def open(cls, stack: Stack) -> TronUsdt:
        client = AsyncTron(AsyncHTTPProvider(stack.tron.url))
        return cls(await client.get_contract(stack.tron.info()["trc20_contract"]), client)

    async def balance(self, owner: str) -> int:
        return int(await self.contract.functions.balanceOf(owner))


async def test_a_usdt_sweep_burns_fuel_never_the_customers_trx(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    """A customer's TRX beside their USDT at one address: the USDT sweep pays its energy with
    the hot wallet's TRX (a loan, a top-up), never with the TRX credited to the customer,
    which the TRX sweep then moves in full."""
    address = await usdt_credited(stack, pool, "beside")
    await tron_send_many(stack.tron.url, tron_key(stack.tron, 6), address, [40 * TRX])
    await eventually(covered_of(pool, address, 2, uncovered=2), timeout=120)
    [found] = await store_deposits.uncovered(pool, "tron", address, usdt(stack))
    intent = stack.signer("operator").statement(
        "sweep", sweeps_scope("tron"), {"chain": "tron"}, lifetime=600
    )
    started = await start_sweep(
        stack.client, pool, found, intent, task_queue=stack.settings.task_queue("tron"),
        notify_queue=stack.settings.task_queue("notify"),
    )  # fmt: skip
    result = await swept(stack, started)
    assert result["status"] == "confirmed", result
    assert await steps_of(pool, started) != []  # fuel came from the hot wallet
    assert await trx_of(stack, address) >= 40 * TRX  # the customer's TRX is all there
    trx_sweep = await sweep_now(stack, pool, address)
    result = await swept(stack, trx_sweep)
    assert result["status"] == "confirmed", result
    moved = await pool.fetchval("SELECT amount FROM withdrawals WHERE request_id = $1", trx_sweep)
    assert int(moved) >= 40 * TRX - TRX  # in full, less the bandwidth it may burn


def usdt(stack: Stack) -> str:
    return str(stack.tron.info()["trc20_contract"])


async def test_reconcile_reports_where_the_chain_and_the_ledger_differ(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # TRON: 4 TRX credited, then 1 TRX taken out with the address's derived key.
    t = await deposits.deposit_address(
        stack.client, stack.settings, "tron", f"rt-{uuid.uuid4().hex[:6]}"
    )
    await tron_send_many(stack.tron.url, tron_key(stack.tron, 6), t.address, [4 * TRX])
    await eventually(lambda: credits(pool, t.address), timeout=120)
    taken = PrivateKey(bytes.fromhex(chains.get("tron").deposit_key(seed(stack), t.index)[1]))
    [out] = await tron_send_many(
        stack.tron.url, taken, tron_address(tron_key(stack.tron, 6)), [TRX]
    )
    await tron_wait_solid(stack.tron.url, [out])
    # Solana: 1 USDC credited (under the threshold) beside 0.005 USDC of dust.
    s = await deposits.deposit_address(
        stack.client, stack.settings, "solana", f"rs-{uuid.uuid4().hex[:6]}"
    )
    payer = sol_account(stack.solana, 10)
    await sol_send(stack.solana.url, payer, s.address, usdc(stack.solana), 5_000)
    await sol_send(stack.solana.url, payer, s.address, usdc(stack.solana), 1_000_000)
    await eventually(lambda: credits(pool, s.address), timeout=120)
    await eventually(lambda: finalized_usdc(stack, s.address, 1_005_000), timeout=120)
    r = await walletflow(stack_cli_env(stack, tmp_path), "reconcile", "--json")
    assert r.code == 0, r.err
    found = {
        d["address"]: (d["symbol"], d["expected"], d["actual"])
        for report in json.loads(r.out)
        for d in report["differences"]
    }
    assert found[t.address] == ("TRX", 4 * TRX, 3 * TRX)  # less on chain: to look into
    assert found[s.address] == ("USDC", 1_000_000, 1_005_000)  # more: the uncredited dust
    # Less on chain than the ledger says only where this module took money out behind its
    # back (here, and in the TRX test): a sweep's top-up is never credited to the customer.
    robbed = await pool.fetch("SELECT address FROM deposit_addresses WHERE customer LIKE 't-%'")
    less = {address for address, (_, expected, actual) in found.items() if actual < expected}
    assert less == {t.address} | {row["address"] for row in robbed}, found
    recorded = await pool.fetch(
        "SELECT run_id FROM reconcile_differences WHERE address = ANY($1::text[])",
        [t.address, s.address],
    )
    assert len(recorded) == 2
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # for tests/workflows/test_replay.py
        for run_id in {row["run_id"] for row in recorded}:
            workflow_id = run_id.split(":")[0]
            history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
            (HISTORIES / f"{workflow_id}.json").write_text(history.to_json() + "\n")
    # The Schedule that does this every RECONCILE_HOURS exists for each chain.
    for chain in ("solana", "tron"):
        described = await stack.client.get_schedule_handle(
            deposits_schedule_id(stack.settings.task_queue(chain))
        ).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "ReconcileWorkflow"
    # A worker started with another RECONCILE_HOURS moves it; an operator's pause stays.
    schedule = stack.client.get_schedule_handle(
        deposits_schedule_id(stack.settings.task_queue("tron"))
    )
    await schedule.pause(note="looking into a difference")
    hourly = stack.settings.model_copy(update={"reconcile_hours": 1})
    await ensure_deposit_schedule(stack.client, hourly, "tron")
    described = await schedule.describe()
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=1)]
    assert described.schedule.state.paused
    assert described.schedule.state.note == "looking into a difference"
    await ensure_deposit_schedule(stack.client, stack.settings, "tron")  # as it was
    await schedule.unpause()


async def finalized_usdc(stack: Stack, owner: str, amount: int) -> bool:
    account = await token_account(stack, owner)
    return account is not None and int.from_bytes(bytes(account.data)[64:72], "little") == amount
