"""End-to-end harness: devnets, real Temporal, real Postgres, and walletflow's own workers.

`Stack` starts the Solana and TRON devnets (fast blocks) in-process and runs `worker_main`'s
workers for every queue against them, with a task-queue prefix of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from core.ids import price_watch_id, push_id, watch_id
from core.texts import PENDING_MARK
from starter.client.signer import Signer
from starter.devstack import devnet_env, two_providers, write_devnet_keys
from starter.devstack.principals import DEV_PRINCIPALS, dev_key, provision
from starter.runtime.settings import ENV_NAMES, PRICES_QUEUE, Settings
from store.db import create_pool
from worker_main import run_workers

HOT_ACCOUNT = 19  # the devnet account tests use as the withdrawal hot wallet
# A module that changes its hot wallet beyond balances (staking TRX for energy) takes one of
# its own, since the devnets are the session's: another module's OUT_OF_ENERGY must not find
# energy staked.
SPARE_HOT_ACCOUNT = 18


@dataclass
class Stack:
    client: Client
    settings: Settings
    solana: Any
    tron: Any
    telegram: Any
    hot_account: int = HOT_ACCOUNT
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def signer(self, name: str = "operator") -> Signer:
        """A dev principal's key: operator (requester, admin), approver, or bot (service)."""
        return dev_key(self.settings.signing_key().parent, name)

    @property
    def devnets(self) -> dict[str, Any]:
        return {"solana": self.solana.info(), "tron": self.tron.info()}

    async def start_workers(
        self, queues: tuple[str, ...] = ("solana", "tron", "notify"), *, triggers: bool = True
    ) -> None:
        self.stop = asyncio.Event()
        ready = asyncio.Event()

        async def serve() -> None:
            await run_workers(
                self.settings,
                queues,
                client=self.client,
                stop=self.stop,
                on_ready=ready.set,
                start_triggers=triggers,
            )

        self.task = asyncio.create_task(serve())
        done, _ = await asyncio.wait(
            {self.task, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            self.task.result()  # raises the start-up error

    async def stop_workers(self) -> None:
        self.stop.set()
        if self.task:
            await self.task
            self.task = None

    async def close(self) -> None:
        await self.stop_workers()
        followers = [
            workflow_id(self.settings.task_queue(chain))
            for chain in ("solana", "tron")
            for workflow_id in (watch_id, push_id)
        ]
        prices = self.settings.task_queue(PRICES_QUEUE)
        followers += [price_watch_id(prices, name) for name in ("jupiter", "coingecko")]
        for workflow_id in followers:
            with contextlib.suppress(Exception):
                await self.client.get_workflow_handle(workflow_id).terminate("test over")


ALL_QUEUES = ("solana", "tron", "notify")


@dataclass(frozen=True)
class Devnets:
    """The session's three devnets."""

    solana: Any
    tron: Any
    telegram: Any


@contextlib.asynccontextmanager
async def running_stack(
    client: Client,
    pg_dsn: str,
    devnets: Devnets,
    *,
    queues: tuple[str, ...] = ALL_QUEUES,
    triggers: bool = True,
    settings: dict[str, Any] | None = None,
    hot_account: int = HOT_ACCOUNT,
) -> AsyncIterator[Stack]:
    """A Stack with workers for `queues` (none: the test runs its own), closed afterwards."""
    s = Stack(
        client=client,
        settings=stack_settings(
            pg_dsn,
            devnets.solana,
            devnets.tron,
            devnets.telegram,
            hot_account=hot_account,
            **(settings or {}),
        ),
        solana=devnets.solana,
        tron=devnets.tron,
        telegram=devnets.telegram,
        hot_account=hot_account,
    )
    await ensure_roster(s.settings)
    if queues:
        await s.start_workers(queues, triggers=triggers)
    try:
        yield s
    finally:
        await s.close()


def stack_settings(
    pg_dsn: str,
    solana: Any,
    tron: Any,
    telegram: Any,
    *,
    hot_account: int = HOT_ACCOUNT,
    **overrides: Any,
) -> Settings:
    info = {"solana": solana.info(), "tron": tron.info()}
    tokens = devnet_env(info, Settings(SOLANA_TOKENS="", TRON_TOKENS=""))
    home = Path(tempfile.mkdtemp())
    keys = write_devnet_keys(home, info, index=hot_account)
    for name in DEV_PRINCIPALS:  # the signing keys; `ensure_roster` lists them
        dev_key(home / "keys", name)
    values: dict[str, Any] = {
        "WALLETFLOW_KEY_FILE": str(home / "keys" / "operator.json"),
        "WALLETFLOW_BOT_KEY_FILE": str(home / "keys" / "bot.json"),
        "DATABASE_URL": pg_dsn,
        "SOLANA_RPC_URL": two_providers(solana.url),
        "TRON_API_URL": two_providers(tron.url),
        "TELEGRAM_BOT_TOKEN": telegram.config.default_token,
        "TELEGRAM_API_URL": telegram.url,
        "WALLETFLOW_TASK_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:8]}-",
        "SOLANA_SWEEP_SECONDS": 0.5,
        "TRON_BLOCK_SECONDS": tron.config.block_ms / 1000,
        "WALLETFLOW_SHUTDOWN_TIMEOUT": 2,
        "WALLETFLOW_KEYSTORE": f"file:{keys}",
        "TRON_EXPIRATION_SECONDS": 8,
        **tokens,
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def ensure_roster(settings: Settings) -> None:
    """The dev principals of `settings`' keys, in its database's roster (idempotent)."""
    pool = await create_pool(settings.dsn or "", max_size=1)
    try:
        await provision(pool, settings.signing_key().parent)
    finally:
        await pool.close()


async def messages(telegram: Any, chat: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{telegram.url}/_devnet/messages", params={"chat_id": chat})
        resp.raise_for_status()
        return list(resp.json())


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 30, interval: float = 0.25
) -> Any:
    """Poll `check` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


PENDING_PLAIN = PENDING_MARK.replace("<b>", "").replace("</b>", "")


async def settled_messages(
    telegram: Any, chat: int, expected: int, *, timeout: float = 45, quiet: float = 2.0
) -> list[dict[str, Any]]:
    """The chat's messages once `expected` arrived, none of them is still a pending (early)
    one, and nothing more came for `quiet` seconds."""

    async def enough() -> list[dict[str, Any]] | None:
        got = await messages(telegram, chat)
        settled = not any(m["plain_text"].startswith(PENDING_PLAIN) for m in got)
        return got if len(got) >= expected and settled else None

    await eventually(enough, timeout=timeout)
    await asyncio.sleep(quiet)
    return await messages(telegram, chat)


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as the environment variables a subprocess (worker, CLI) reads."""
    return {k: v for k, v in os.environ.items() if k not in ENV_NAMES} | settings.as_env()


def stack_cli_env(stack: Stack, home: Path) -> dict[str, str]:
    """The stack's settings as a CLI's environment: its Temporal, its database and the dev
    keys, with the venv's bin (walletflow, temporal) first on PATH."""
    return settings_env(stack.settings) | {
        "WALLETFLOW_HOME": str(home),
        "TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": stack.client.namespace,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
