"""No secret in any output: the monitor and chaos scenarios run with known canary secrets, then
every history (exported with `temporal workflow show --output json`), every log record and
every exported span is searched for them.

The canaries: a database password, an RPC key (in the Solana URLs' query, and TRON's API key
header), a bot token, the operator's signing key, and the payload encryption key. With the
codec on, no withdrawal's destination may appear in clear in any history either (payloads are
encrypted and the destination stays out of search attributes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from solders.keypair import Keypair
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from tronpy.keys import PrivateKey

from starter.client import connect, withdrawals
from starter.devstack import two_providers
from starter.runtime import telemetry
from starter.runtime.codec import new_key
from tests.support.cli import temporal
from tests.support.ids import chat_id
from tests.support.monitor import (
    SOL,
    TRX,
    sol_key,
    sol_send_many,
    tron_address,
    tron_key,
    tron_send_many,
    watch,
)
from tests.support.scan import key_forms, strings
from tests.support.stack import (
    Devnets,
    Stack,
    ensure_roster,
    settled_messages,
    stack_settings,
)
from tests.support.withdrawals import fresh_tron_address, withdraw

RUN = uuid.uuid4().hex[:10]
DB_PASSWORD = f"canarydbpw{RUN}"
RPC_KEY = f"canaryrpckey{RUN}"
BOT_TOKEN = f"424242:canarybottoken{RUN}"
CODEC_KEY = new_key("canary")


def with_password(dsn: str, password: str) -> str:
    """The DSN with a password (the test PostgreSQL trusts local connections, so it is carried
    everywhere the DSN goes but never needed)."""
    parts = urlsplit(dsn)
    user = parts.username or "postgres"
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class Captured(logging.Handler):
    """Every log record of the process, formatted as a worker writes it (the formatter of
    `telemetry.configure_logging`, tracebacks included), at DEBUG: the chattiest level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def span_text(span: ReadableSpan) -> list[str]:
    texts = [span.name, str(span.status.description or "")]
    texts += [f"{k}={v!s}" for k, v in (span.attributes or {}).items()]
    for event in span.events:
        texts.append(event.name)
        texts += [f"{k}={v!s}" for k, v in (event.attributes or {}).items()]
    return texts


def leaks(texts: list[str], secrets: dict[str, set[str]]) -> dict[str, list[str]]:
    """{secret's name: the lines (shortened) that hold one of its forms}."""
    found: dict[str, list[str]] = {}
    for name, forms in secrets.items():
        hits = [t[:160] for t in texts if any(f in t for f in forms)]
        if hits:
            found[name] = hits[:3]
    return found


async def test_no_canary_in_any_history_log_or_span(
    temporal_env: WorkflowEnvironment,
    pg_dsn: str,
    devnets: Devnets,
    logs: Captured,
    exporter: InMemorySpanExporter,
) -> None:
    solana_url = f"{devnets.solana.url}/?api-key={RPC_KEY}"
    settings = stack_settings(
        with_password(pg_dsn, DB_PASSWORD),
        devnets.solana,
        devnets.tron,
        devnets.telegram,
        SOLANA_RPC_URL=two_providers(solana_url),
        TRON_API_KEY=RPC_KEY,
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        WALLETFLOW_CODEC_KEYS=CODEC_KEY,
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
    )
    logs.setFormatter(telemetry.log_formatter(settings))
    await ensure_roster(settings)
    client = await connect(settings)  # encrypting, traced: as every walletflow process
    stack = Stack(client, settings, devnets.solana, devnets.tron, devnets.telegram)
    operator = stack.signer("operator")
    secrets = {
        "database password": {DB_PASSWORD},
        "RPC key": {RPC_KEY},
        "bot token": {BOT_TOKEN, BOT_TOKEN.split(":", 1)[1]},
        "operator key": key_forms(operator.private_key),
        "encryption key": {CODEC_KEY.split(":", 1)[1]},
    }
    await stack.start_workers()
    destinations: list[str] = []
    try:
        # The monitor scenario: a Solana and a TRON wallet watched, each paid, each notified.
        sol_wallet, sol_chat = str(Keypair().pubkey()), chat_id()
        await watch(client, settings, "solana", sol_wallet, sol_chat)
        await sol_send_many(devnets.solana.url, sol_key(devnets.solana, 12), sol_wallet, [SOL])
        tron_wallet, tron_chat = tron_address(PrivateKey.random()), chat_id()
        await watch(client, settings, "tron", tron_wallet, tron_chat)
        await tron_send_many(devnets.tron.url, tron_key(devnets.tron, 12), tron_wallet, [TRX])
        await settled_messages(devnets.telegram, sol_chat, 1, quiet=0.2)
        await settled_messages(devnets.telegram, tron_chat, 1, quiet=0.2)

        # The chaos scenario: withdrawals of every asset while the RPC fails now and then and
        # the workers stop mid-flight and come back.
        await set_faults(devnets, {"error_rate": 0.1, "rate_429": 0.05, "seed": 17})
        requests = [
            ("solana", "SOL", str(Keypair().pubkey())),
            ("solana", "USDC", str(Keypair().pubkey())),
            ("tron", "TRX", fresh_tron_address()),
            ("tron", "USDT", fresh_tron_address()),
        ]
        ids = []
        for chain, asset, to in requests:
            request_id, _ = await withdraw(stack, chain, asset, to, "1", by=operator, wait=False)
            ids.append(request_id)
            destinations.append(to)
        await asyncio.sleep(1)
        await stack.stop_workers()
        await stack.start_workers()
        results = [await withdrawals.handle(client, rid).result() for rid in ids]
        assert [r.status for r in results] == ["confirmed"] * 4, results
    finally:
        await set_faults(devnets, {"error_rate": 0, "rate_429": 0})
        await stack.close()

    # Every workflow of this stack (its task queues), as anyone with the CLI exports it.
    address = temporal_env.client.service_client.config.target_host
    raw = await Client.connect(address)
    histories: list[str] = []
    async for wf in raw.list_workflows():
        if not wf.task_queue.startswith(settings.task_queue_prefix):
            continue
        shown = await temporal(
            address, "workflow", "show", "-w", wf.id, "-r", wf.run_id, "--output", "json"
        )
        assert shown.returncode == 0, shown.stderr
        histories.append("\n".join(strings(json.loads(shown.stdout))))
    assert len(histories) >= 6  # 2 monitors, 4 withdrawals (and the triggers, the policy)
    exported = [t for span in exporter.get_finished_spans() for t in span_text(span)]
    assert exported, "tracing should have exported spans"
    assert len(logs.lines) > 50, "the workers should have logged"

    # The detector finds a planted canary (so a clean result means something).
    assert leaks([f"x {DB_PASSWORD} y"], secrets) == {"database password": [f"x {DB_PASSWORD} y"]}
    assert leaks(histories, secrets) == {}
    assert leaks(logs.lines, secrets) == {}
    assert leaks(exported, secrets) == {}
    assert leaks(histories, {"a withdrawal destination": set(destinations)}) == {}


async def set_faults(devnets: Devnets, faults: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as http:
        for devnet in (devnets.solana, devnets.tron):
            (await http.post(f"{devnet.url}/_devnet/faults", json=faults)).raise_for_status()
