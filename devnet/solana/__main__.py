"""`python -m devnet.solana --port 8899`: run the Solana devnet alone until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from devnet.faults import Faults
from devnet.solana import SolanaDevnet, SolanaDevnetConfig


async def _serve(args: argparse.Namespace) -> None:
    config = SolanaDevnetConfig(
        seed=args.seed,
        accounts=args.accounts,
        slot_ms=args.slot_ms,
        finalized_lag=args.finalized_lag,
        state_path=args.state,
    )
    devnet = SolanaDevnet(config, Faults())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = await devnet.start(args.host, args.port)
    try:
        if args.info:
            print(json.dumps(devnet.info()), flush=True)
        else:
            print(f"solana devnet: {url}", flush=True)
        await stop.wait()
    finally:
        await devnet.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet.solana", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899, help="0 = any free port")
    parser.add_argument("--seed", default="walletflow")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--slot-ms", type=int, default=400)
    parser.add_argument("--finalized-lag", type=int, default=32)
    parser.add_argument("--state", type=Path, help="state file, kept across restarts")
    parser.add_argument(
        "--info", action="store_true", help="print info() as one JSON line on start"
    )
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
