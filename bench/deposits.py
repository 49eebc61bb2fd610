"""Deposits and sweeps, under chaos: every deposit credited once, every sweep landed once.

    python bench/deposits.py [--n 1000] [--kill-every 3,6] [--no-chaos]

The embedded stack of bench/withdrawals.py (Temporal dev server, embedded PostgreSQL, the
Solana, TRON and Telegram devnets in processes of their own), walletflow's worker as
`python -m worker_main --queues solana,tron,notify`, with every credit at or above the
minimum swept at once (SWEEP_THRESHOLDS = DEPOSIT_MINIMUMS) under a standing statement, and no
Telegram message per deposit (no DEPOSITS_CHAT: the ledger and webhooks report them).

1. `--n` deposit addresses on each chain (`deposit-address`, for n customers).
2. One deposit to each, from the devnets' funded accounts: SOL or USDC on Solana, TRX or
   USDT on TRON, random amounts. The TRON hot wallet has staked energy for about half of the
   USDT sweeps at once: the rest are topped up.
3. With the faults on (5% of calls 503, 2% 429, 1% of broadcasts accepted with the response
   lost; TRON: 35% of the stake's delegations and of the token transfers refused by the node)
   and the worker SIGKILLed every few seconds, until every credit is covered by a sweep
   that ended.
4. With the faults off, read back from the ledger and the chains:
   - credited once: every deposit sent has exactly one credit, and nothing else is credited;
   - swept once: every sweep confirmed, no sweep with two landed versions, and every credit
     covered by a confirmed sweep;
   - the hot wallet received the sum swept, minus what the chain charged it (Solana: the
     fees of the sweeps, plus the rent of every token account a sweep closed; TRON: the fees
     and TRX of the steps);
   - ledger = chain: `walletflow reconcile` finds no difference;
   - nothing left lent (the hot wallet's delegated energy is 0), and the TRX left at each
     USDT deposit address is within the bound (1 sun after lent energy, the 10% margin
     after a top-up);
   - TRX burned per USDT sweep, with lent energy and with a top-up.

Results: stdout and bench/results/deposits.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.transaction import Transaction
from tronpy import AsyncTron
from tronpy.keys import PrivateKey
from tronpy.providers.async_http import AsyncHTTPProvider
from withdrawals import HOT_ACCOUNT, BenchStack, free_port, machine, settings_env  # beside
from withdrawals_chaos import (
    FAULTS,
    NO_FAULTS,
    Killer,
    devnet_stats,
    hot_balances,
    solana_accounts,
    solana_landed,
    tron_balances,
    tron_landed,
    wait_tron_solid,
)

from chains import solana as sol
from chains.solana.fees import RENT_EXEMPT_TOKEN_ACCOUNT
from core.assets import Asset
from core.ids import deposits_schedule_id
from core.models import ReconcileReport
from starter.client import deposits
from starter.devstack import Child

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "deposits.json"
MINIMUMS = "SOL:0.001,USDC:0.01,TRX:1,USDT:0.01"
SENDERS = range(0, 16)  # funded devnet accounts that deposit (19 is the hot wallet)
TRX = 1_000_000
STEP_KINDS = ("activate", "delegate", "topup", "buy", "undelegate")


# Refused by the node (each signed version once: a refused id is cached): a share of the TRON
# hot wallet's loans, after the address was activated (the sweep then buys the energy), and
# of the token transfers (a USDT sweep whose 3 versions are all refused fails, gives its
# credits back, and the Schedule sweeps them again as `-try2`).
REFUSED = {
    "refuse_rate": 0.35,
    "refuse_kinds": ["DelegateResourceContract", "TriggerSmartContract"],
}
CALM = NO_FAULTS | {"refuse_rate": 0.0, "refuse_kinds": None}


def chaos(chain: str, seed: int) -> dict[str, Any]:
    return FAULTS | {"seed": seed} | (REFUSED if chain == "tron" else {})


class DepositStack(BenchStack):
    """BenchStack with the Telegram devnet and a worker that also serves the notify queue."""

    async def start(self) -> None:
        await super().start()
        info_file = self.home / "telegram.json"
        await self.dev.spawn(
            "devnet-telegram",
            [sys.executable, "-m", "devnet", "--only", "telegram", "--info-file", str(info_file),
             "--telegram-port", str(free_port())],
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not info_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the Telegram devnet did not start")
            await asyncio.sleep(0.1)
        telegram = json.loads(info_file.read_text())["telegram"]
        self.worker_env |= {
            "TELEGRAM_BOT_TOKEN": telegram["token"],
            "TELEGRAM_API_URL": telegram["url"],
            "DEPOSIT_MINIMUMS": MINIMUMS,
            "SWEEP_THRESHOLDS": MINIMUMS,
            "WALLETFLOW_LOG_LEVEL": "WARNING",
        }

    async def start_worker(self, name: str = "worker") -> Child:
        ready = self.home / "run" / f"{name}.ready"
        ready.unlink(missing_ok=True)
        child = await self.dev.spawn(
            name,
            [sys.executable, "-m", "worker_main", "--queues", "solana,tron,notify",
             "--ready-file", str(ready)],
            env=settings_env(self.settings) | self.worker_env,
            grace=self.settings.shutdown_timeout + 1,
        )  # fmt: skip
        await self._ready(child, ready)
        self.workers.append(child)
        return child


# ---- deposits ---------------------------------------------------------------------------------


def plan(n: int, seed: int) -> list[tuple[str, str, int]]:
    """(chain, asset symbol, base units) of each deposit: one per address, n per chain."""
    rng = random.Random(seed)
    out = []
    for chain, assets in (("solana", ("SOL", "USDC")), ("tron", ("TRX", "USDT"))):
        for _ in range(n):
            symbol = rng.choice(assets)
            units = {
                "SOL": rng.randint(2, 50) * 10**6,  # 0.002-0.05 SOL
                "USDC": rng.randint(2, 500) * 10**4,  # 0.02-5 USDC
                "TRX": rng.randint(2, 40) * TRX,  # 2-40 TRX
                "USDT": rng.randint(2, 500) * 10**4,  # 0.02-5 USDT
            }[symbol]
            out.append((chain, symbol, units))
    return out


async def addresses(stack: DepositStack, n: int, run: str) -> dict[tuple[str, int], str]:
    gate = asyncio.Semaphore(16)
    out: dict[tuple[str, int], str] = {}

    async def one(chain: str, i: int) -> None:
        async with gate:
            found = await deposits.deposit_address(
                stack.client, stack.settings, chain, f"{run}-{i}"
            )
        out[(chain, i)] = found.address

    await asyncio.gather(*(one(c, i) for c in ("solana", "tron") for i in range(n)))
    return out


async def send_solana(stack: DepositStack, sends: list[tuple[str, str, int]]) -> list[str]:
    info = stack.devnets["solana"]
    keys = [Keypair.from_base58_string(info["accounts"][i]["secret_key"]) for i in SENDERS]
    usdc = Asset(symbol="USDC", decimals=6, id=info["spl_mint"], program=sol.TOKEN_PROGRAM)
    native = Asset(symbol="SOL", decimals=9, id="SOL")
    signatures: list[str] = []
    async with AsyncClient(info["url"], commitment=Confirmed, timeout=30) as client:
        for start in range(0, len(sends), len(keys)):
            blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash
            batch = []
            for key, (to, symbol, units) in zip(
                keys, sends[start : start + len(keys)], strict=False
            ):
                asset = native if symbol == "SOL" else usdc
                message = sol.transfer_message(str(key.pubkey()), to, asset, units, str(blockhash))
                batch.append(
                    client.send_raw_transaction(bytes(Transaction([key], message, blockhash)))
                )
            signatures += [str(r.value) for r in await asyncio.gather(*batch)]
    return signatures


async def send_tron(stack: DepositStack, sends: list[tuple[str, str, int]]) -> list[str]:
    info = stack.devnets["tron"]
    keys = [PrivateKey(bytes.fromhex(info["accounts"][i]["private_key"])) for i in SENDERS]
    txids: list[str] = []
    async with AsyncTron(AsyncHTTPProvider(info["url"])) as client:
        contract = await client.get_contract(info["trc20_contract"])

        async def one(key: PrivateKey, to: str, symbol: str, units: int) -> str:
            sender = key.public_key.to_base58check_address()
            if symbol == "TRX":
                builder = client.trx.transfer(sender, to, units)
            else:
                call = await contract.functions.transfer(to, units)
                builder = call.with_owner(sender).fee_limit(50 * TRX)
            tx = (await builder.build()).sign(key)
            await tx.broadcast()
            return str(tx.txid)

        for start in range(0, len(sends), len(keys)):
            chunk = sends[start : start + len(keys)]
            txids += await asyncio.gather(*(one(k, *s) for k, s in zip(keys, chunk, strict=False)))
    return txids


async def stake_hot_wallet(stack: DepositStack, trx: int) -> None:
    info = stack.devnets["tron"]
    key = PrivateKey(bytes.fromhex(info["accounts"][HOT_ACCOUNT]["private_key"]))
    async with AsyncTron(AsyncHTTPProvider(info["url"])) as client:
        me = key.public_key.to_base58check_address()
        tx = await client.trx.freeze_balance(me, trx * TRX, "ENERGY").build()
        await tx.sign(key).broadcast()


# ---- waiting ----------------------------------------------------------------------------------


async def progress(stack: DepositStack) -> dict[str, int]:
    row = await stack.pool.fetchrow(
        """SELECT count(*) AS credited,
                  count(*) FILTER (WHERE w.status IN ('confirmed', 'failed', 'rejected',
                                                       'cancelled', 'expired')) AS decided,
                  count(*) FILTER (WHERE w.status = 'confirmed') AS swept
           FROM deposits d LEFT JOIN withdrawals w ON w.request_id = d.sweep_id"""
    )
    assert row is not None
    return dict(row)


async def settle(stack: DepositStack, expected: int, timeout: float) -> dict[str, int]:
    """Wait until every credit is covered by a sweep that ended. Credits a failed sweep gave
    back wait for the `deposits-{chain}` Schedule, triggered here every 30 s (as if it ran
    every 30 s): it starts their next attempt."""
    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    triggered = time.monotonic()
    while time.monotonic() < deadline:
        last = await progress(stack)
        print(f"  {last}", file=sys.stderr)
        if last["credited"] >= expected and last["decided"] == last["credited"]:
            return last
        if time.monotonic() - triggered > 30 and await given_back(stack):
            for chain in stack.chains:
                schedule = deposits_schedule_id(stack.settings.task_queue(chain))
                with contextlib.suppress(Exception):  # a kill or an injected fault: next time
                    await stack.client.get_schedule_handle(schedule).trigger()
            triggered = time.monotonic()
        await asyncio.sleep(5)
    return last


async def given_back(stack: DepositStack) -> int:
    """Credits no sweep covers although one of them ended: what the Schedule picks up."""
    count = await stack.pool.fetchval(
        """SELECT count(*) FROM deposits d
           WHERE d.sweep_id IS NULL AND EXISTS (
               SELECT 1 FROM withdrawals w WHERE w.kind = 'sweep' AND w.from_address = d.address)"""
    )
    return int(count)


# ---- reading back -----------------------------------------------------------------------------


async def verify(
    stack: DepositStack,
    sent: dict[str, tuple[str, str, str, int]],
    before: dict[str, int],
    reports: list[ReconcileReport],
) -> dict[str, Any]:
    pool = stack.pool
    credits = await pool.fetch("SELECT chain, tx_id, address, symbol, amount FROM deposits")
    credited = Counter(r["tx_id"].lower() for r in credits)
    sent_ids = {t.lower() for t in sent}
    not_credited = sorted(sent_ids - set(credited))
    twice = sorted(t for t, c in credited.items() if c > 1)
    foreign = sorted(set(credited) - sent_ids)
    sweeps = await pool.fetch(
        """SELECT request_id, chain, asset, amount, status, from_address FROM withdrawals
           WHERE kind = 'sweep'"""
    )
    main = [s for s in sweeps if not s["request_id"].endswith(tuple(f"-{k}" for k in STEP_KINDS))]
    steps = [s for s in sweeps if s not in main]
    versions: dict[str, list[str]] = defaultdict(list)
    for r in await pool.fetch(
        "SELECT request_id, tx_id FROM withdrawal_versions WHERE request_id LIKE 'sweep-%'"
    ):
        versions[r["request_id"]].append(r["tx_id"])
    sol_ids = [t for s in sweeps if s["chain"] == "solana" for t in versions[s["request_id"]]]
    tron_ids = [t for s in sweeps if s["chain"] == "tron" for t in versions[s["request_id"]]]
    landed = await solana_landed(stack.devnet_url("solana"), sol_ids)
    landed |= await tron_landed(stack.devnet_url("tron"), tron_ids)
    # Twice on chain: two versions of one move, or two attempts (`-try2`) of one batch's
    # sweep (a step may land again in a later attempt: energy lent again, say).
    moved: Counter[str] = Counter()
    for s in sweeps:
        family = re.sub(r"-try\d+$", "", s["request_id"]) if s in main else s["request_id"]
        moved[family] += sum(
            1 for t in versions[s["request_id"]] if t in landed and not landed[t]["err"]
        )
    double = sorted(family for family, n in moved.items() if n > 1)
    uncovered = await pool.fetchval(
        """SELECT count(*) FROM deposits d LEFT JOIN withdrawals w ON w.request_id = d.sweep_id
           WHERE w.status IS DISTINCT FROM 'confirmed'"""
    )
    # What the hot wallets received, against the ledger and what the chain charged them.
    after = await hot_balances(stack)
    info = stack.devnets
    usdc, usdt = info["solana"]["spl_mint"], info["tron"]["trc20_contract"]
    swept: Counter[str] = Counter()
    for s in main:
        if s["status"] == "confirmed":
            swept[{"SOL": "SOL", usdc: "USDC", "TRX": "TRX", usdt: "USDT"}[s["asset"]]] += int(
                s["amount"]
            )
    confirmed_ids = {s["request_id"] for s in sweeps if s["status"] == "confirmed"}
    sol_fees = sum(
        landed[t]["fee"] or 0
        for s in sweeps
        if s["chain"] == "solana"
        for t in versions[s["request_id"]]
        if t in landed
    )
    usdc_swept = [
        s["from_address"] for s in main if s["asset"] == usdc and s["request_id"] in confirmed_ids
    ]
    atas = [sol.associated_token_address(owner, usdc) for owner in usdc_swept]
    found = await solana_accounts(stack.devnet_url("solana"), atas)
    closed = sum(1 for ata in atas if found[ata] is None)
    step_trx = sum(
        int(s["amount"])
        for s in steps
        if s["status"] == "confirmed" and s["request_id"].endswith(("-activate", "-topup", "-buy"))
    )
    step_fees = sum(
        landed[t]["fee"] for s in steps for t in versions[s["request_id"]] if t in landed
    )
    hot = {
        "SOL": {
            "change": after["SOL"] - before["SOL"],
            "expected": swept["SOL"] - sol_fees + closed * RENT_EXEMPT_TOKEN_ACCOUNT,
            "fees": sol_fees,
            "token_accounts_closed": closed,
        },
        "USDC": {"change": after["USDC"] - before["USDC"], "expected": swept["USDC"]},
        "TRX": {
            "change": after["TRX"] - before["TRX"],
            "expected": swept["TRX"] - step_trx - step_fees,
            "steps_trx_sent": step_trx,
            "steps_fees": step_fees,
        },
        "USDT": {"change": after["USDT"] - before["USDT"], "expected": swept["USDT"]},
    }
    # Energy and TRX left behind at the USDT deposit addresses.
    usdt_sweeps = [s for s in main if s["asset"] == usdt]
    trx_left, _ = await tron_balances(
        stack.devnet_url("tron"), usdt, [s["from_address"] for s in usdt_sweeps], []
    )
    by_way: dict[str, list[int]] = {"lent": [], "topup": []}
    stranded_over_bound = []
    attempts_of: dict[str, list[Any]] = defaultdict(list)
    for s in usdt_sweeps:
        attempts_of[s["from_address"]].append(s)
    # Per address, over every attempt of its sweep (a later one burns what an earlier one's
    # top-up left there).
    for address, attempts in attempts_of.items():
        ids = {s["request_id"] for s in attempts}
        own = [x for x in steps if x["request_id"].rsplit("-", 1)[0] in ids]
        topup = sum(
            int(x["amount"]) for x in own if x["request_id"].rsplit("-", 1)[1] in ("topup", "buy")
        )
        bound = topup // 10 if topup else 1
        if trx_left[address] > bound:
            stranded_over_bound.append((address, trx_left[address], bound))
        burned = sum(
            landed[t]["fee"] for x in [*own, *attempts] for t in versions[x["request_id"]]
            if t in landed
        )  # fmt: skip
        if any(s["status"] == "confirmed" for s in attempts):
            by_way["topup" if topup else "lent"].append(burned)
    lent_now = await hot_delegated(stack)
    differences = sum(len(r.differences) for r in reports)
    ok = (
        not not_credited and not twice and not foreign and not double and uncovered == 0
        and all(v["change"] == v["expected"] for v in hot.values())
        and differences == 0 and lent_now == 0 and not stranded_over_bound
    )  # fmt: skip
    return {
        "ok": ok,
        "deposits_sent": len(sent),
        "credited": len(credits),
        "not_credited": len(not_credited),
        "credited_twice": len(twice),
        "credited_not_sent": len(foreign),
        "sweeps": dict(Counter(s["status"] for s in main)),
        "sweep_steps": dict(
            Counter(f"{s['request_id'].rsplit('-', 1)[1]}:{s['status']}" for s in steps)
        ),
        "double_sweeps": len(double),
        "batches_swept_again": sum(1 for s in main if re.search(r"-try\d+$", s["request_id"])),
        "credits_not_swept": uncovered,
        "hot_wallet": hot,
        "hot_wallet_equals_ledger": {k: v["change"] == v["expected"] for k, v in hot.items()},
        "reconcile": [r.model_dump(mode="json", exclude={"run_id"}) for r in reports],
        "energy_still_lent_sun": lent_now,
        "usdt_addresses_over_trx_bound": len(stranded_over_bound),
        "trx_burned_per_usdt_sweep": {
            way: {
                "sweeps": len(fees),
                "mean_trx": round(sum(fees) / len(fees) / TRX, 4) if fees else None,
            }
            for way, fees in by_way.items()
        },
    }


async def hot_delegated(stack: DepositStack) -> int:
    info = stack.devnets["tron"]
    async with AsyncTron(AsyncHTTPProvider(info["url"])) as client:
        account = await client.get_account(info["accounts"][HOT_ACCOUNT]["address"])
    return int(
        (account.get("account_resource") or {}).get("delegated_frozenV2_balance_for_energy", 0)
    )


# ---- the run ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = DepositStack(
        chains=["solana", "tron"],
        slot_ms=args.slot_ms,
        finalized_lag=args.finalized_lag,
        tron_block_ms=args.tron_block_ms,
        tron_solid_lag=args.tron_solid_lag,
    )
    killer: Killer | None = None
    try:
        await stack.start()
        run_id = f"d{uuid.uuid4().hex[:6]}"
        worker = await stack.start_worker("worker-setup")
        operator = deposits_signer(stack)
        for chain in ("solana", "tron"):
            await deposits.authorize(stack.pool, chain, operator, 1)
        # Stake for about half the USDT sweeps at once (about 1,700 TRX each on the devnet).
        await stake_hot_wallet(stack, args.stake_trx)
        began = time.monotonic()
        where = await addresses(stack, args.n, run_id)
        made_s = time.monotonic() - began
        print(f"{len(where)} deposit addresses in {made_s:.0f} s", file=sys.stderr)
        await asyncio.sleep(3)  # the monitors take their cursors
        before = await hot_balances(stack)
        todo = plan(args.n, args.seed)
        by_chain: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        index: Counter[str] = Counter()
        for chain, symbol, units in todo:
            by_chain[chain].append((where[(chain, index[chain])], symbol, units))
            index[chain] += 1
        sent: dict[str, tuple[str, str, str, int]] = {}
        if args.chaos:
            await stack.kill_worker(worker)
            killer = Killer(stack, args.kill_every, args.seed)
            kill_task = asyncio.create_task(killer.run())
            await killer.up.wait()
            for chain in stack.chains:
                await stack.set_faults(chain, chaos(chain, args.seed))
                await devnet_stats(stack, chain, reset=True)
        for chain, send in (("solana", send_solana), ("tron", send_tron)):
            # Deposits are the customers' sends, not walletflow's: they go out without faults.
            await stack.set_faults(chain, CALM)
            ids = await send(stack, by_chain[chain])
            for tx_id, (to, symbol, units) in zip(ids, by_chain[chain], strict=True):
                sent[tx_id] = (chain, to, symbol, units)
            if args.chaos:
                await stack.set_faults(chain, chaos(chain, args.seed))
        sent_s = time.monotonic() - began
        settled = await settle(stack, len(sent), args.timeout)
        elapsed = time.monotonic() - began
        injected: dict[str, Any] = {}
        if killer is not None:
            killer.stopped.set()
            await kill_task
            injected = {chain: await devnet_stats(stack, chain) for chain in stack.chains}
            for chain in stack.chains:
                await stack.set_faults(chain, CALM)
            await stack.start_worker("worker-after")
        await asyncio.sleep(2 * args.slot_ms * (args.finalized_lag + 2) / 1000)
        await wait_tron_solid(stack.devnet_url("tron"), 30)
        reports = await deposits.reconcile(stack.client, stack.settings, None)
        verdict = await verify(stack, sent, before, reports)
    finally:
        await stack.close()
    return {
        "benchmark": "deposits.sweeps",
        "config": {
            "addresses_per_chain": args.n,
            "chaos": args.chaos,
            "faults": {c: chaos(c, args.seed) for c in ("solana", "tron")} if args.chaos else None,
            "worker_sigkill_every_s": list(args.kill_every) if args.chaos else None,
            "hot_wallet_stake_trx": args.stake_trx,
            "seed": args.seed,
        },
        "worker_kills": killer.kills if killer else 0,
        "devnet_requests_under_faults": injected,
        "addresses_created_s": round(made_s, 1),
        "deposits_sent_s": round(sent_s, 1),
        "all_decided_s": round(elapsed, 1),
        "progress_at_end": settled,
        **verdict,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def deposits_signer(stack: DepositStack) -> Any:
    from starter.client.withdrawals import signer

    return signer(stack.settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="deposit addresses per chain")
    parser.add_argument("--no-chaos", dest="chaos", action="store_false")
    parser.add_argument(
        "--kill-every", type=lambda s: tuple(float(x) for x in s.split(",")), default=(3.0, 6.0)
    )
    parser.add_argument("--stake-trx", type=int, default=200_000)
    parser.add_argument("--slot-ms", type=int, default=100)
    parser.add_argument("--finalized-lag", type=int, default=8)
    parser.add_argument("--tron-block-ms", type=int, default=500)
    parser.add_argument("--tron-solid-lag", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2, default=str))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
