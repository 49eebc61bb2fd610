"""`python -m devnet.tron --port 8090`: run the TRON devnet until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path

from devnet.tron import TronDevnet, TronDevnetConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devnet.tron", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--seed", default="walletflow")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--block-ms", type=int, default=3000)
    parser.add_argument("--solid-lag", type=int, default=19)
    parser.add_argument("--energy-price", type=int, default=210)
    parser.add_argument("--state-path", type=Path, default=None)
    parser.add_argument("--no-blocks", action="store_true", help="no producer task")
    parser.add_argument(
        "--require-api-key",
        metavar="KEY",
        default=None,
        help="answer 401 to calls without this key in their TRON-PRO-API-KEY header",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    config = TronDevnetConfig(
        seed=args.seed,
        accounts=args.accounts,
        block_ms=args.block_ms,
        solid_lag=args.solid_lag,
        energy_price=args.energy_price,
        state_path=args.state_path,
        auto_produce=not args.no_blocks,
        require_api_key=args.require_api_key,
    )
    devnet = TronDevnet(config)
    await devnet.start(args.host, args.port)
    # One JSON line on stdout: scripts (the benchmark) read the URL and keys from it.
    print(json.dumps(devnet.info()), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await devnet.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
