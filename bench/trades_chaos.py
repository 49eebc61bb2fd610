"""Chaos benchmark: trades while the worker is SIGKILLed every few seconds and RPC fails.

    python bench/trades_chaos.py [--n 200] [--rate 4] [--kill-every 3,6]

The embedded stack of bench/withdrawals.py with the Solana devnet only (its swap venue on the
same port) and walletflow's worker as `python -m worker_main --queues solana`. N trades by the
hot wallet, alternating a buy of USDC for 0.05 SOL and a sale of 5 USDC, are started at `--rate`
per second while (as bench/withdrawals_chaos.py does):
- the worker process is SIGKILLed every few seconds and started again at once, for as long as
  any trade is unfinished;
- the devnet answers 5% of all calls (quotes and swaps included) with 503, 2% with 429, and
  drops the connection after accepting 1% of broadcasts ("accepted, response lost").

Then, with the faults off, everything is read back from the ledger and from the chain:
- lost: trades not in a final state (confirmed with reserve, debit and fill; or failed with
  the reservation released or never made);
- double fills: trades with more than one landed version, or more than one fill row;
- ledger = chain: the hot wallet's USDC change equals the fills of the buys minus the debits of
  the sells, exactly; its SOL change equals the fills of the sells minus the debits of the buys
  minus the fees of every landed transaction.

Results: stdout and bench/results/trades_chaos.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from withdrawals import HOT_ACCOUNT, BenchStack, machine, percentile  # beside this script
from withdrawals_chaos import (
    FAULTS,
    chaos_options,
    solana_accounts,
    solana_landed,
    token_amount,
    under_chaos,
)

from chains import solana as sol
from core.models import WithdrawalRequest, WithdrawalStatus
from starter.client import trades
from starter.client.withdrawals import TRADE

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "trades_chaos.json"


def make_trades(stack: BenchStack, run: str, n: int) -> list[WithdrawalRequest]:
    return [
        trades.build_request(
            stack.settings,
            chain="solana",
            side="buy" if i % 2 == 0 else "sell",
            token="USDC",
            amount="0.05" if i % 2 == 0 else "5",
            request_id=f"{run}-{i}",
            requested_by="bench",
            slippage_bps=300,
        )
        for i in range(n)
    ]


async def hot(stack: BenchStack) -> tuple[int, int]:
    info = stack.devnets["solana"]
    wallet = info["accounts"][HOT_ACCOUNT]["address"]
    ata = sol.associated_token_address(wallet, info["spl_mint"])
    accounts = await solana_accounts(stack.devnet_url("solana"), [wallet, ata])
    lamports = accounts[wallet]
    return (lamports[0] if lamports else 0), token_amount(accounts[ata])


async def chaos(args: argparse.Namespace) -> dict[str, Any]:
    stack = BenchStack(
        chains=["solana"],
        slot_ms=args.slot_ms,
        finalized_lag=args.finalized_lag,
        tron_block_ms=500,
        tron_solid_lag=4,
    )
    try:
        await stack.start()
        before = await hot(stack)
        reqs = make_trades(stack, f"tchaos{uuid.uuid4().hex[:6]}", args.n)
        done, elapsed, kills, injected = await under_chaos(stack, args, reqs, TRADE)
        await asyncio.sleep(2 * args.slot_ms * (args.finalized_lag + 2) / 1000)
        verdict = await verify(stack, reqs, done, before)
    finally:
        await stack.close()
    lat = [f - s for s, f, r in done.values() if isinstance(r, WithdrawalStatus)]
    return {
        "benchmark": "trades.chaos",
        "config": {
            "n": args.n,
            "rate_per_s": args.rate,
            "faults": FAULTS,
            "worker_sigkill_every_s": list(args.kill_every),
            "solana_devnet": {"slot_ms": args.slot_ms, "finalized_lag": args.finalized_lag},
            "seed": args.seed,
        },
        "worker_kills": kills,
        "devnet_requests_under_faults": injected["solana"],
        "elapsed_s": round(elapsed, 1),
        "latency_s": {
            "p50": round(percentile(lat, 0.5), 2) if lat else None,
            "p95": round(percentile(lat, 0.95), 2) if lat else None,
        },
        **verdict,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


async def verify(
    stack: BenchStack,
    reqs: list[WithdrawalRequest],
    done: dict[int, tuple[float, float, Any]],
    before: tuple[int, int],
) -> dict[str, Any]:
    ids = [r.request_id for r in reqs]
    ledger: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for r in await stack.pool.fetch(
        "SELECT request_id, kind, asset, amount FROM ledger_entries WHERE request_id = ANY($1)",
        ids,
    ):
        ledger[r["request_id"]].append((r["kind"], r["asset"], int(r["amount"])))
    versions: dict[str, list[str]] = defaultdict(list)
    for r in await stack.pool.fetch(
        "SELECT request_id, tx_id FROM withdrawal_versions WHERE request_id = ANY($1) "
        "ORDER BY version",
        ids,
    ):
        versions[r["request_id"]].append(r["tx_id"])
    landed = await solana_landed(
        stack.devnet_url("solana"), [t for tx_ids in versions.values() for t in tx_ids]
    )
    after = await hot(stack)
    usdc = stack.devnets["solana"]["spl_mint"]

    final: Counter[str] = Counter()
    lost, doubles = [], []
    sol_in = sol_out = usdc_in = usdc_out = fees = requoted = 0
    for i, r in enumerate(reqs):
        result = done.get(i, (0, 0, None))[2]
        status = result.status if isinstance(result, WithdrawalStatus) else None
        final[status or (type(result).__name__ if result is not None else "unfinished")] += 1
        kinds = sorted(k for k, _, _ in ledger[r.request_id])
        on_chain = [t for t in versions[r.request_id] if t in landed]
        fees += sum(landed[t]["fee"] or 0 for t in on_chain)
        requoted += len(versions[r.request_id]) > 1
        if len([t for t in on_chain if not landed[t]["err"]]) > 1 or kinds.count("fill") > 1:
            doubles.append(r.request_id)
        confirmed = status == "confirmed" and kinds == ["debit", "fill", "reserve"]
        released = status == "failed" and kinds in ([], ["release", "reserve"])
        if not (confirmed or released):
            lost.append({"request_id": r.request_id, "status": status, "ledger": kinds})
        for kind, asset, amount in ledger[r.request_id]:
            if kind == "debit":
                sol_out += amount if asset == "SOL" else 0
                usdc_out += amount if asset == usdc else 0
            elif kind == "fill":
                sol_in += amount if asset == "SOL" else 0
                usdc_in += amount if asset == usdc else 0
    sol_change, usdc_change = after[0] - before[0], after[1] - before[1]
    return {
        "final_states": dict(final),
        "lost": len(lost),
        "lost_samples": lost[:5],
        "double_fills": len(doubles),
        "requoted_after_proven_dead": requoted,
        "ledger_equals_chain": {
            "usdc": usdc_change == usdc_in - usdc_out,
            "usdc_change": usdc_change,
            "usdc_ledger": usdc_in - usdc_out,
            "sol": sol_change == sol_in - sol_out - fees,
            "sol_change": sol_change,
            "sol_ledger_minus_fees": sol_in - sol_out - fees,
            "fees": fees,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    chaos_options(parser, n=200, rate=4, out=RESULT)
    args = parser.parse_args()
    result = asyncio.run(chaos(args))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
