"""Run the local devnets in one process: `python -m devnet` (what `walletflow devnet` calls).

Writes a JSON description of every running devnet (URLs, funded accounts, mint and token
addresses) to `--info-file` once all are listening, then serves until SIGINT/SIGTERM, when each
devnet saves its state under `--home` so that a restart keeps balances and history.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from devnet.http import DevnetServer

NAMES = ("solana", "tron", "telegram")


def build(name: str, state_dir: Path | None, fast: bool) -> DevnetServer | None:
    """The devnet called `name`, or None when this build does not have it yet."""
    try:
        if name == "solana":
            from devnet.solana import SolanaDevnet, SolanaDevnetConfig

            scfg: dict[str, Any] = {"slot_ms": 100, "finalized_lag": 8} if fast else {}
            if state_dir:
                scfg["state_path"] = state_dir / "solana.json"
            return SolanaDevnet(SolanaDevnetConfig(**scfg))
        if name == "tron":
            from devnet.tron import TronDevnet, TronDevnetConfig

            tcfg: dict[str, Any] = {"block_ms": 500, "solid_lag": 4} if fast else {}
            if state_dir:
                tcfg["state_path"] = state_dir / "tron.json"
            return TronDevnet(TronDevnetConfig(**tcfg))
        if name == "telegram":
            from devnet.telegram import TelegramDevnet, TelegramDevnetConfig

            return TelegramDevnet(TelegramDevnetConfig())
    except ImportError:
        return None
    raise ValueError(f"unknown devnet {name!r}; expected one of {', '.join(NAMES)}")


async def serve(
    names: list[str],
    ports: dict[str, int],
    state_dir: Path | None,
    info_file: Path | None,
    fast: bool,
    host: str = "127.0.0.1",
) -> None:
    running: dict[str, DevnetServer] = {}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if state_dir:
        state_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            server = build(name, state_dir, fast)
            if server is None:
                print(f"devnet {name}: not available in this build, skipped", file=sys.stderr)
                continue
            await server.start(host, ports.get(name, 0))
            running[name] = server
        info = {name: server.info() for name, server in running.items()}
        if info_file:
            tmp = info_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(info, indent=2))
            os.replace(tmp, info_file)
        for name, server in running.items():
            print(f"devnet {name}: {server.url}", flush=True)
        await stop.wait()
    finally:
        for server in reversed(list(running.values())):
            await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet", description=__doc__)
    parser.add_argument("--only", default=",".join(NAMES), help="comma-separated devnets")
    parser.add_argument("--home", type=Path, help="directory for devnet state (kept on restart)")
    parser.add_argument("--info-file", type=Path, help="where to write the devnets' description")
    parser.add_argument("--fast", action="store_true", help="short slots/blocks and finality lags")
    for name, default in (("solana", 8899), ("tron", 8090), ("telegram", 8081)):
        parser.add_argument(f"--{name}-port", type=int, default=default)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        parser.error(f"unknown devnet {unknown[0]!r}; expected one of {', '.join(NAMES)}")
    ports = {n: getattr(args, f"{n}_port") for n in NAMES}
    asyncio.run(serve(names, ports, args.home, args.info_file, args.fast))


if __name__ == "__main__":
    main()
