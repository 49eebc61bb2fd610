"""Chaos benchmark: withdrawals while the worker is SIGKILLed every few seconds and RPC fails.

    python bench/withdrawals_chaos.py [--n 500] [--rate 10] [--kill-every 3,6]

The embedded stack of bench/withdrawals.py (Temporal dev server, embedded PostgreSQL, the
Solana and TRON devnets in their own process, walletflow's worker as `python -m worker_main
--queues solana,tron`). N withdrawals to new addresses, round-robin SOL, USDC, TRX, USDT, are
started at `--rate` per second while:
- the worker process is SIGKILLed every few seconds (uniformly 3-6 s after it came up) and
  started again at once, for as long as any withdrawal is unfinished: local activities, workflow
  tasks and send_and_confirm die mid-step, again and again;
- both devnets answer 5% of all calls with 503, 2% with 429 (Retry-After: 1), and drop the
  connection after accepting 1% of broadcasts ("accepted, response lost").

Then, with the faults off, everything is read back from the ledger and from the chains:
- lost: withdrawals not in a final state (confirmed, or failed with the reservation released),
  or whose ledger disagrees with it (confirmed needs reserve + debit, failed no debit);
- double sends: recipients who received more than once (every recipient is a new address, so
  its balance is the sum of what reached it) and withdrawals with more than one landed version
  (every version's transaction id, looked up on chain);
- per asset, the ledger's debits against the chain: the sum the recipients received, and the
  hot wallet's decrease against debits plus what the chain charged (Solana: every landed
  transaction's fee and the rent of the token accounts it created; TRON: every landed
  transaction's `fee`).

Results: stdout and bench/results/withdrawals_chaos.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solders.pubkey import Pubkey
from solders.signature import Signature
from temporalio.client import WorkflowHandle
from withdrawals import (  # bench/withdrawals.py, beside this script
    ASSETS,
    HOT_ACCOUNT,
    BenchStack,
    drive,
    machine,
    make_requests,
    percentile,
)

from chains import solana as sol
from chains import tron
from core.models import WithdrawalRequest, WithdrawalStatus
from starter.client import withdrawals
from starter.client.withdrawals import WITHDRAWAL, Kind
from starter.devstack import Child

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "withdrawals_chaos.json"
FAULTS = {"error_rate": 0.05, "rate_429": 0.02, "retry_after": 1, "lost_response_rate": 0.01}
NO_FAULTS = {"error_rate": 0.0, "rate_429": 0.0, "lost_response_rate": 0.0}


class Killer:
    """SIGKILLs the worker every few seconds and starts a new one, until stopped."""

    def __init__(self, stack: BenchStack, every: tuple[float, float], seed: int) -> None:
        self.stack = stack
        self.every = every
        self.rng = random.Random(seed)
        self.kills = 0
        self.stopped = asyncio.Event()
        self.worker: Child | None = None
        self.up = asyncio.Event()  # the first worker is polling

    async def run(self) -> None:
        self.worker = await self.stack.start_worker("worker-0")
        self.up.set()
        while not self.stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), self.rng.uniform(*self.every))
            if self.stopped.is_set():
                return
            await self.stack.kill_worker(self.worker)
            self.kills += 1
            self.worker = await self.stack.start_worker(f"worker-{self.kills}")


async def under_chaos(
    stack: BenchStack, args: argparse.Namespace, reqs: list[WithdrawalRequest], kind: Kind
) -> tuple[dict[int, tuple[float, float, Any]], float, int, dict[str, Any]]:
    """Run `reqs` (withdrawals or trades) the chaos way: the worker SIGKILLed every few seconds
    and FAULTS on every devnet of the stack while they run. Returns (what `drive` returns,
    seconds it took, the kills, the devnets' requests under faults), with the faults off and
    the last worker stopped."""
    killer = Killer(stack, args.kill_every, args.seed)
    kill_task = asyncio.create_task(killer.run())
    await killer.up.wait()
    for chain in stack.chains:
        await stack.set_faults(chain, FAULTS | {"seed": args.seed})
        await devnet_stats(stack, chain, reset=True)
    print(f"stack up in {stack.home}; {len(reqs)} {kind.name}s under chaos", file=sys.stderr)

    async def start(req: WithdrawalRequest) -> WorkflowHandle[Any, Any]:
        # The starter's own calls go to Temporal, not the devnets: only Temporal errors.
        await withdrawals.start(stack.client, stack.settings, req)
        return withdrawals.handle(stack.client, req.request_id, kind)

    began = time.monotonic()
    done, _ = await drive(reqs, args.rate, start, timeout=args.timeout)
    elapsed = time.monotonic() - began
    killer.stopped.set()
    await kill_task
    injected = {chain: await devnet_stats(stack, chain) for chain in stack.chains}
    for chain in stack.chains:
        await stack.set_faults(chain, NO_FAULTS)
    return done, elapsed, killer.kills, injected


async def devnet_stats(stack: BenchStack, chain: str, *, reset: bool = False) -> dict[str, Any]:
    """The devnet's request counters (injected 503s and 429s included), or zero them."""
    async with httpx.AsyncClient(timeout=30) as http:
        url = f"{stack.devnet_url(chain)}/_devnet/stats"
        if reset:
            (await http.post(f"{url}/reset")).raise_for_status()
            return {}
        stats = (await http.get(url)).json()
    return {"requests": stats["requests"], "statuses": stats["statuses"]}


# ---- reading the chains back ----------------------------------------------------------------


async def solana_accounts(url: str, addresses: list[str]) -> dict[str, tuple[int, bytes] | None]:
    """(lamports, data) of each address at finalized, None where it does not exist."""
    out: dict[str, tuple[int, bytes] | None] = {}
    async with AsyncClient(url, timeout=30) as client:
        for i in range(0, len(addresses), 100):
            chunk = addresses[i : i + 100]
            resp = await client.get_multiple_accounts(
                [Pubkey.from_string(a) for a in chunk], commitment=Finalized
            )
            for address, account in zip(chunk, resp.value, strict=True):
                out[address] = (
                    None if account is None else (int(account.lamports), bytes(account.data))
                )
    return out


def token_amount(account: tuple[int, bytes] | None) -> int:
    if account is None or len(account[1]) < 72:
        return 0
    return int.from_bytes(account[1][64:72], "little")


async def solana_landed(url: str, tx_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The transactions among `tx_ids` that are on chain (finalized): their fee and error."""
    landed: dict[str, dict[str, Any]] = {}
    async with AsyncClient(url, timeout=30) as client:
        for i in range(0, len(tx_ids), 256):
            chunk = tx_ids[i : i + 256]
            resp = await client.get_signature_statuses(
                [Signature.from_string(t) for t in chunk], search_transaction_history=True
            )
            for tx_id, status in zip(chunk, resp.value, strict=True):
                if status is not None:
                    landed[tx_id] = {"err": status.err is not None}
        for tx_id in landed:
            tx = await client.get_transaction(
                Signature.from_string(tx_id),
                commitment=Finalized,
                max_supported_transaction_version=0,
            )
            meta = tx.value.transaction.meta if tx.value else None
            landed[tx_id]["fee"] = int(meta.fee) if meta else None
    return landed


async def tron_post(http: httpx.AsyncClient, url: str, path: str, body: dict[str, Any]) -> Any:
    resp = await http.post(f"{url}/{path}", json=body)
    resp.raise_for_status()
    return resp.json()


async def tron_balances(
    url: str, contract: str, trx_addresses: list[str], usdt_addresses: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """TRX at the solidified head, and the TRC20 token's balanceOf, of each address."""
    gate = asyncio.Semaphore(16)
    trx: dict[str, int] = {}
    usdt: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=30) as http:

        async def one_trx(address: str) -> None:
            async with gate:
                account = await tron_post(
                    http, url, "walletsolidity/getaccount", {"address": address, "visible": True}
                )
            trx[address] = int(account.get("balance", 0))

        async def one_usdt(address: str) -> None:
            async with gate:
                reply = await tron_post(
                    http,
                    url,
                    "wallet/triggerconstantcontract",
                    {
                        "owner_address": address,
                        "contract_address": contract,
                        "function_selector": tron.BALANCE_OF_SELECTOR,
                        "parameter": tron.abi_address(address),
                        "visible": True,
                    },
                )
            usdt[address] = int((reply.get("constant_result") or ["0"])[0] or "0", 16)

        await asyncio.gather(*map(one_trx, trx_addresses), *map(one_usdt, usdt_addresses))
    return trx, usdt


async def tron_landed(url: str, tx_ids: list[str]) -> dict[str, dict[str, Any]]:
    gate = asyncio.Semaphore(16)
    landed: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(tx_id: str) -> None:
            async with gate:
                info = await tron_post(
                    http, url, "walletsolidity/gettransactioninfobyid", {"value": tx_id}
                )
            if info and info.get("id"):
                result = (info.get("receipt") or {}).get("result")
                failed = info.get("result") == "FAILED" or result not in (None, "SUCCESS")
                landed[tx_id] = {"err": failed, "fee": int(info.get("fee", 0))}

        await asyncio.gather(*map(one, tx_ids))
    return landed


async def wait_tron_solid(url: str, seconds: float) -> None:
    """Let the solidified head move past everything that was included."""
    async with httpx.AsyncClient(timeout=30) as http:
        head = await tron_post(http, url, "wallet/getnowblock", {})
        number = int(head["block_header"]["raw_data"]["number"])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            solid = await tron_post(http, url, "walletsolidity/getnowblock", {})
            if int(solid["block_header"]["raw_data"]["number"]) >= number:
                return
            await asyncio.sleep(0.5)


# ---- the run --------------------------------------------------------------------------------


async def hot_balances(stack: BenchStack) -> dict[str, int]:
    sol_info, tron_info = stack.devnets["solana"], stack.devnets["tron"]
    hot_sol = sol_info["accounts"][HOT_ACCOUNT]["address"]
    hot_ata = sol.associated_token_address(hot_sol, sol_info["spl_mint"])
    accounts = await solana_accounts(stack.devnet_url("solana"), [hot_sol, hot_ata])
    hot_tron = tron_info["accounts"][HOT_ACCOUNT]["address"]
    trx, usdt = await tron_balances(
        stack.devnet_url("tron"), tron_info["trc20_contract"], [hot_tron], [hot_tron]
    )
    hot_account = accounts[hot_sol]
    return {
        "SOL": hot_account[0] if hot_account else 0,
        "USDC": token_amount(accounts[hot_ata]),
        "TRX": trx[hot_tron],
        "USDT": usdt[hot_tron],
    }


async def chaos(args: argparse.Namespace) -> dict[str, Any]:
    stack = BenchStack(
        chains=["solana", "tron"],
        slot_ms=args.slot_ms,
        finalized_lag=args.finalized_lag,
        tron_block_ms=args.tron_block_ms,
        tron_solid_lag=args.tron_solid_lag,
    )
    try:
        await stack.start()
        hot_before = await hot_balances(stack)
        reqs = make_requests(stack, f"chaos{uuid.uuid4().hex[:6]}", args.n)
        done, elapsed, kills, injected = await under_chaos(stack, args, reqs, WITHDRAWAL)
        await wait_tron_solid(stack.devnet_url("tron"), 60)
        await asyncio.sleep(2 * args.slot_ms * (args.finalized_lag + 2) / 1000)
        verdict = await verify(stack, reqs, done, hot_before)
    finally:
        await stack.close()

    lat = [f - s for s, f, r in done.values() if isinstance(r, WithdrawalStatus)]
    return {
        "benchmark": "withdrawals.chaos",
        "config": {
            "n": args.n,
            "rate_per_s": args.rate,
            "assets": [a for c in ("solana", "tron") for a in ASSETS[c]],
            "faults_on_both_devnets": FAULTS,
            "worker_sigkill_every_s": list(args.kill_every),
            "solana_devnet": {"slot_ms": args.slot_ms, "finalized_lag": args.finalized_lag},
            "tron_devnet": {"block_ms": args.tron_block_ms, "solid_lag": args.tron_solid_lag},
            "seed": args.seed,
        },
        "worker_kills": kills,
        "seconds_between_kills": round(elapsed / kills, 1) if kills else None,
        "devnet_requests_under_faults": injected,
        "elapsed_s": round(elapsed, 1),
        "latency_s": {
            "p50": round(percentile(lat, 0.5), 2) if lat else None,
            "p95": round(percentile(lat, 0.95), 2) if lat else None,
            "max": round(max(lat), 2) if lat else None,
        },
        **verdict,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


async def verify(
    stack: BenchStack,
    reqs: list[WithdrawalRequest],
    done: dict[int, tuple[float, float, Any]],
    hot_before: dict[str, int],
) -> dict[str, Any]:
    ids = [r.request_id for r in reqs]
    rows = {
        r["request_id"]: r
        for r in await stack.pool.fetch(
            "SELECT request_id, chain, asset, to_address, amount, status FROM withdrawals "
            "WHERE request_id = ANY($1::text[])",
            ids,
        )
    }
    ledger: dict[str, list[str]] = defaultdict(list)
    for r in await stack.pool.fetch(
        "SELECT request_id, kind FROM ledger_entries WHERE request_id = ANY($1::text[]) "
        "ORDER BY id",
        ids,
    ):
        ledger[r["request_id"]].append(r["kind"])
    versions: dict[str, list[str]] = defaultdict(list)
    for r in await stack.pool.fetch(
        "SELECT request_id, tx_id FROM withdrawal_versions WHERE request_id = ANY($1::text[]) "
        "ORDER BY version",
        ids,
    ):
        versions[r["request_id"]].append(r["tx_id"])

    # What reached every recipient, and which versions landed, from the chains themselves.
    sol_info, tron_info = stack.devnets["solana"], stack.devnets["tron"]
    mint = sol_info["spl_mint"]
    received: dict[str, int] = {}
    ata_rent: dict[str, int] = {}
    sol_reqs = [r for r in reqs if r.chain == "solana"]
    lookup = {
        r.request_id: (r.to if r.asset == "SOL" else sol.associated_token_address(r.to, mint))
        for r in sol_reqs
    }
    accounts = await solana_accounts(stack.devnet_url("solana"), list(lookup.values()))
    for r in sol_reqs:
        account = accounts[lookup[r.request_id]]
        if r.asset == "SOL":
            received[r.request_id] = account[0] if account else 0
        else:
            received[r.request_id] = token_amount(account)
            ata_rent[r.request_id] = account[0] if account else 0
    tron_reqs = [r for r in reqs if r.chain == "tron"]
    trx, usdt = await tron_balances(
        stack.devnet_url("tron"),
        tron_info["trc20_contract"],
        [r.to for r in tron_reqs if r.asset == "TRX"],
        [r.to for r in tron_reqs if r.asset == "USDT"],
    )
    for r in tron_reqs:
        received[r.request_id] = trx[r.to] if r.asset == "TRX" else usdt[r.to]
    landed = await solana_landed(
        stack.devnet_url("solana"), [t for r in sol_reqs for t in versions[r.request_id]]
    ) | await tron_landed(
        stack.devnet_url("tron"), [t for r in tron_reqs for t in versions[r.request_id]]
    )
    hot_after = await hot_balances(stack)

    results = {i: done[i][2] for i in done}
    final: Counter[str] = Counter()
    lost: list[dict[str, Any]] = []
    double: list[dict[str, Any]] = []
    debits: Counter[str] = Counter()
    to_recipients: Counter[str] = Counter()
    fees = {"solana": 0, "tron": 0}
    rent = 0
    resigned = 0
    for i, r in enumerate(reqs):
        rid = r.request_id
        row = rows.get(rid)
        result = results.get(i)
        status = result.status if isinstance(result, WithdrawalStatus) else None
        final[status or (type(result).__name__ if result is not None else "unfinished")] += 1
        amount = int(row["amount"]) if row else 0
        kinds = ledger.get(rid, [])
        on_chain = [t for t in versions.get(rid, []) if t in landed]
        ok_on_chain = [t for t in on_chain if not landed[t]["err"]]
        resigned += len(versions.get(rid, [])) > 1
        for t in on_chain:
            fees[r.chain] += landed[t]["fee"] or 0
        if r.asset == "USDC" and ok_on_chain:
            rent += ata_rent.get(rid, 0)
        got = received.get(rid, 0)
        to_recipients[r.asset] += got
        if "debit" in kinds:
            debits[r.asset] += amount
        # Final and settled: confirmed with one debit and the amount on chain, or failed with
        # the reservation released (or never made) and nothing on chain.
        confirmed = status == "confirmed" and kinds == ["reserve", "debit"] and got == amount
        released = status == "failed" and kinds in ([], ["reserve", "release"]) and got == 0
        if not (confirmed or released):
            lost.append(
                {
                    "request_id": rid,
                    "status": status,
                    "ledger": kinds,
                    "received": got,
                    "amount": amount,
                    "result": repr(result)[:200],
                }
            )
        if len(ok_on_chain) > 1 or got > amount:
            double.append(
                {"request_id": rid, "landed": on_chain, "received": got, "amount": amount}
            )

    expected_decrease = {
        "SOL": debits["SOL"] + fees["solana"] + rent,
        "USDC": debits["USDC"],
        "TRX": debits["TRX"] + fees["tron"],
        "USDT": debits["USDT"],
    }
    ledger_vs_chain = {}
    for asset in ("SOL", "USDC", "TRX", "USDT"):
        decrease = hot_before[asset] - hot_after[asset]
        ledger_vs_chain[asset] = {
            "ledger_debits": debits[asset],
            "recipients_received": to_recipients[asset],
            "hot_wallet_decrease": decrease,
            "debits_plus_chain_charges": expected_decrease[asset],
            "equal": debits[asset] == to_recipients[asset] and decrease == expected_decrease[asset],
        }
    reasons = Counter(
        (r.reason or "?")[:80]
        for r in results.values()
        if isinstance(r, WithdrawalStatus) and r.status != "confirmed"
    )
    version_counts = Counter(len(versions.get(r.request_id, [])) for r in reqs)
    return {
        "final_statuses": dict(final),
        "failure_reasons": dict(reasons),
        "signed_versions_per_withdrawal": {str(k): v for k, v in sorted(version_counts.items())},
        "resigned_versions": resigned,
        "lost": len(lost),
        "lost_samples": lost[:5],
        "double_sends": len(double),
        "double_send_samples": double[:5],
        "ledger_vs_chain": ledger_vs_chain,
        "chain_charges": {
            "solana_fees": fees["solana"],
            "solana_ata_rent": rent,
            "tron_fees": fees["tron"],
        },
        "ok": not lost and not double and all(v["equal"] for v in ledger_vs_chain.values()),
    }


def chaos_options(parser: argparse.ArgumentParser, *, n: int, rate: float, out: Path) -> None:
    """The options every chaos bench takes (bench/trades_chaos.py too)."""
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--rate", type=float, default=rate, help="starts per second; 0 = open")
    parser.add_argument(
        "--kill-every",
        type=lambda s: tuple(float(x) for x in s.split(",")),
        default=(3.0, 6.0),
        help="seconds between a worker coming up and its SIGKILL: min,max",
    )
    parser.add_argument("--slot-ms", type=int, default=100)
    parser.add_argument("--finalized-lag", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--out", type=Path, default=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    chaos_options(parser, n=500, rate=10, out=RESULT)
    parser.add_argument("--tron-block-ms", type=int, default=500)
    parser.add_argument("--tron-solid-lag", type=int, default=4)
    args = parser.parse_args()
    result = asyncio.run(chaos(args))
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
