"""Run `walletflow` as a user does: a subprocess, stdout and stderr piped (not a terminal)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WALLETFLOW_"))}
    for key in ("DATABASE_URL", "SOLANA_RPC_URL", "TRON_API_URL", "TELEGRAM_BOT_TOKEN"):
        env.pop(key, None)
    env["WALLETFLOW_HOME"] = str(home)
    env.update(extra)
    return env


async def walletflow(env: dict[str, str], *args: str, timeout: float = 120) -> Result:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def temporal(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `temporal` CLI beside this Python (as `make` installs it) against `address`. In a
    thread: workers sharing the test's event loop must keep running while it waits."""
    binary = str(Path(sys.executable).parent / "temporal")
    return await asyncio.to_thread(
        subprocess.run,
        [binary, *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=60,
    )
