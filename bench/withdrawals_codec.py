"""Benchmark: withdrawals/hour with the payload codec on against off, in one run.

    python bench/withdrawals_codec.py [--n 400] [--rounds 2] [--chains solana]

Target (issue 17): withdrawals/hour with the codec on >= 0.95 x with it off.

The embedded stack of bench/withdrawals.py (Temporal dev server, PostgreSQL, devnets, one worker
process). Each round runs N withdrawals with the codec off, then N with it on, and the next round
the other way round (off on, on off, ...), so that both meet the machine's drift alike. Between
runs the worker is stopped gracefully and started again with or without WALLETFLOW_CODEC_KEYS,
and the starting client is switched to match: the whole path (client, history, worker) encrypts
or none of it does. After the runs, one encrypted withdrawal's history is read with raw Temporal
access: its destination must not appear in it.

Results: stdout and bench/results/withdrawals_codec.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from temporalio.client import Client
from withdrawals import (  # bench/withdrawals.py, beside this script
    BenchStack,
    machine,
    make_requests,
    mean,
    own_cpu_ms,
    run_and_save,
    run_withdrawals,
)

from core.ids import withdrawal_id
from core.models import WithdrawalRequest
from starter.client import connect
from starter.runtime.codec import new_key

RESULT = Path(__file__).parent / "results" / "withdrawals_codec.json"
TARGET_RATIO = 0.95


async def use_codec(stack: BenchStack, on: bool, keys: str, clients: dict[bool, Client]) -> None:
    """Restart the worker with the codec `on` (or off) and start withdrawals with a client to
    match."""
    for worker in list(stack.workers):
        await stack.dev._stop_child(worker)
        stack.workers.remove(worker)
        stack.dev.children.remove(worker)
    stack.worker_env = {"WALLETFLOW_CODEC_KEYS": keys} if on else {}
    await stack.start_worker(f"worker-{'on' if on else 'off'}-{uuid.uuid4().hex[:4]}")
    stack.client = clients[on]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    stack = BenchStack(
        chains=args.chains,
        slot_ms=args.slot_ms,
        finalized_lag=args.finalized_lag,
        tron_block_ms=args.tron_block_ms,
        tron_solid_lag=args.tron_solid_lag,
        two_of_n=0,
    )
    keys = new_key("bench")
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    leak: dict[str, Any] = {}
    try:
        await stack.start()
        clients = {
            False: stack.client,
            True: await connect(stack.settings.model_copy(update={"codec_keys": SecretStr(keys)})),
        }
        tag = uuid.uuid4().hex[:6]
        print(f"stack up in {stack.home}; warming up", file=sys.stderr)
        for on in (False, True):
            await use_codec(stack, on, keys, clients)
            await run_withdrawals(stack, f"{tag}w{int(on)}", args.warmup, 0, timeout=300)
        order = [False, True]
        sample: WithdrawalRequest | None = None
        for r in range(args.rounds):
            for on in order:
                await use_codec(stack, on, keys, clients)
                run = f"{tag}{'on' if on else 'off'}{r}"
                reqs = make_requests(stack, run, args.n)
                sample = sample or (reqs[0] if on else None)
                result = await run_withdrawals(
                    stack, run, args.n, 0, timeout=args.timeout, requests=reqs
                )
                runs[on].append(result)
                print(
                    f"codec {'on ' if on else 'off'}: {result['per_s']}/s {result['statuses']}",
                    file=sys.stderr,
                )
            order.reverse()
        # An encrypted withdrawal, read as anyone who reaches the frontend reads it.
        first = sample
        assert first is not None
        raw = await Client.connect(stack.settings.temporal_address)
        history = await raw.get_workflow_handle(withdrawal_id(first.request_id)).fetch_history()
        text = history.to_json()
        clear = text + "".join(
            base64.b64decode(p).decode(errors="replace") for p in _datas(json.loads(text))
        )
        leak = {
            "workflow_id": withdrawal_id(first.request_id),
            "destination_in_history": first.to in clear,
            "amount_in_history": f'"{first.amount}"' in clear,
        }
    finally:
        await stack.close()

    per_s_off = mean([r["per_s"] for r in runs[False]])
    per_s_on = mean([r["per_s"] for r in runs[True]])
    ratio = round(per_s_on / per_s_off, 3)
    all_confirmed = all(
        r["statuses"].get("confirmed", 0) == args.n for rs in runs.values() for r in rs
    )
    return {
        "command": shlex.join(["python", "bench/withdrawals_codec.py", *sys.argv[1:]]),
        "benchmark": "withdrawals.codec",
        "summary": {
            "withdrawals_per_hour_codec_off": round(per_s_off * 3600),
            "withdrawals_per_hour_codec_on": round(per_s_on * 3600),
            "ratio": ratio,
            "ratio_by_round": [
                round(a["per_s"] / b["per_s"], 3)
                for a, b in zip(runs[True], runs[False], strict=True)
            ],
            "cpu_ms_per_withdrawal_codec_off": mean([own_cpu_ms(r) for r in runs[False]]),
            "cpu_ms_per_withdrawal_codec_on": mean([own_cpu_ms(r) for r in runs[True]]),
            "encrypted_history": leak,
        },
        "config": {
            "n": args.n,
            "rounds": args.rounds,
            "order": "off,on then on,off, alternating",
            "chains": args.chains,
            "rate_per_s": "open (as fast as the client starts them)",
            "solana_devnet": {"slot_ms": args.slot_ms, "finalized_lag": args.finalized_lag},
            "codec": "AES-256-GCM (starter/runtime/codec.py), one key",
        },
        "codec_off": runs[False],
        "codec_on": runs[True],
        "targets": {
            "ratio": {"target": TARGET_RATIO, "value": ratio, "met": ratio >= TARGET_RATIO},
            "no_plaintext_destination": not leak.get("destination_in_history", True),
            "all_confirmed": all_confirmed,
        },
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _datas(doc: Any) -> list[str]:
    """Every payload `data` (base64) in a history's JSON."""
    if isinstance(doc, dict):
        found = [doc["data"]] if isinstance(doc.get("data"), str) and "metadata" in doc else []
        return found + [d for v in doc.values() for d in _datas(v)]
    if isinstance(doc, list):
        return [d for v in doc for d in _datas(v)]
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--chains", type=lambda s: s.split(","), default=["solana"])
    parser.add_argument("--slot-ms", type=int, default=400)
    parser.add_argument("--finalized-lag", type=int, default=32)
    parser.add_argument("--tron-block-ms", type=int, default=500)
    parser.add_argument("--tron-solid-lag", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    run_and_save(parser, args, bench)


if __name__ == "__main__":
    main()
