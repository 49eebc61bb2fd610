"""`python -m devnet.telegram --port 8081`: run the Telegram stand-in until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal

from devnet.faults import Faults
from devnet.telegram.server import TelegramDevnet, TelegramDevnetConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devnet.telegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", help="default bot token (printed in the info line)")
    parser.add_argument("--no-rate-limits", action="store_true", help="never answer 429")
    parser.add_argument("--per-chat-rate", type=float, default=1.0, help="messages/s per chat")
    parser.add_argument("--global-rate", type=float, default=30.0, help="messages/s per bot")
    parser.add_argument("--latency-ms", type=int, default=0, help="fault: added latency")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fault: share of 502s")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    config = TelegramDevnetConfig(
        rate_limits=not args.no_rate_limits,
        per_chat_rate=args.per_chat_rate,
        global_rate=args.global_rate,
    )
    if args.token:
        config.default_token = args.token
    faults = Faults(latency_ms=args.latency_ms, error_rate=args.error_rate)
    devnet = TelegramDevnet(config, faults)
    await devnet.start(args.host, args.port)
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
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
