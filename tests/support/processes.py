"""Running walletflow processes (`python -m worker_main`, `walletflow ...`) as the deployment
does: real subprocesses configured only through environment variables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from starter.devstack import free_port
from starter.runtime.settings import Settings
from tests.support.stack import eventually, settings_env

ROOT = Path(__file__).resolve().parents[2]


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a subprocess reads `settings` from (and nothing stray from ours)."""
    env = settings_env(settings)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    log: Path
    health_port: int
    metrics_port: int

    @property
    def health(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.get(self.health + path)

    async def scrape(self) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.get(self.metrics_url)
            resp.raise_for_status()
            return resp.text

    async def wait_ready(self, timeout: float = 60) -> None:
        async def ready() -> bool:
            if self.proc.returncode is not None:
                raise AssertionError(f"exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                return (await self.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, timeout=timeout)

    async def stop(self, timeout: float = 30) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode


async def start_process(args: list[str], settings: Settings, log: Path, **extra: str) -> Process:
    """`python <args>` with `settings`, JSON logs, and /healthz, /readyz, /metrics on free
    ports; its stderr and stdout go to `log`."""
    health_port, metrics_port = free_port(), free_port()
    env = process_env(
        settings,
        WALLETFLOW_HEALTH_PORT=str(health_port),
        WALLETFLOW_METRICS_PORT=str(metrics_port),
        WALLETFLOW_LOG_FORMAT="json",
        **extra,
    )
    with open(log, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
    return Process(proc, log, health_port, metrics_port)


@contextlib.asynccontextmanager
async def running(args: list[str], settings: Settings, log: Path, **extra: str) -> Any:
    process = await start_process(args, settings, log, **extra)
    try:
        yield process
    finally:
        await process.stop()


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text exposition (labels must all match)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        found = dict(
            part.split("=", 1) for part in label_text.rstrip("}").split(",") if "=" in part
        )
        found = {k: v.strip('"') for k, v in found.items()}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def worker_env(settings: Settings, temporal_address: str) -> dict[str, str]:
    """The settings as the environment variables a worker process reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WALLETFLOW_"))}
    return env | settings.as_env() | {"TEMPORAL_ADDRESS": temporal_address}


class WorkerProcess:
    """`python -m worker_main` for `queues`; started, killed (SIGKILL) and started again."""

    def __init__(self, env: dict[str, str], log: Path, queues: str = "solana,tron,notify") -> None:
        self.env = env
        self.queues = queues
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    async def start(self) -> None:
        ready = self.log.with_suffix(".ready")
        ready.unlink(missing_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker_main", "--queues", self.queues,
                 "--ready-file", str(ready)],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert self.proc.poll() is None, f"worker exited:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "worker did not become ready"
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "the worker died by itself"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.asynccontextmanager
async def killable_worker(
    client: Client, settings: Settings, log: Path, queues: str, followers: list[str]
) -> AsyncIterator[WorkerProcess]:
    """A started `WorkerProcess` for `queues`; afterwards it is stopped and the long-running
    `followers` it started (triggers, price-watch loops) are terminated."""
    address = client.service_client.config.target_host
    process = WorkerProcess(worker_env(settings, address), log, queues=queues)
    await process.start()
    try:
        yield process
    finally:
        process.stop()
        for workflow_id in followers:
            with contextlib.suppress(Exception):
                await client.get_workflow_handle(workflow_id).terminate("test over")
