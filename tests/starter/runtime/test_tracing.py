"""Tracing: a withdrawal started the way the CLI and the bot start it (`withdrawals.start` on a
client from `connect`) is one trace rooted at the client's StartWorkflow span.

Temporal's TracingInterceptor records workflow-side spans (RunWorkflow, StartActivity,
CompleteWorkflow) as they happen, zero-length, under the context the workflow was started
with, since a workflow may run for months and replay on any worker: so RunWorkflow and each
StartActivity are children of StartWorkflow, and each RunActivity (the worker running it,
with its real duration) is the child of its StartActivity.

In process, with an in-memory exporter; tests/starter/runtime/test_otlp_export.py does the same
across processes over real OTLP/gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from solders.keypair import Keypair
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.models import WithdrawalStatus
from starter.client import connect, withdrawals
from starter.runtime import telemetry
from starter.runtime.settings import Settings
from tests.support.ids import new_request_id
from tests.support.stack import Stack, ensure_roster
from tests.support.withdrawals import sol_balance

WITHDRAWAL_ACTIVITIES = {
    "prepare_withdrawal",
    "reserve_withdrawal",
    "sign_withdrawal",
    "send_and_confirm",
    "record_withdrawal",
}


@pytest_asyncio.fixture(scope="module", autouse=True)
async def roster(settings: Settings) -> None:
    """The dev principals of `settings`' keys in its database: the CLI signs as `operator`."""
    await ensure_roster(settings)


@pytest_asyncio.fixture(params=["traced", "plain"])
async def stack(
    request: pytest.FixtureRequest,
    exporter: InMemorySpanExporter,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    solana_devnet: Any,
    tron_devnet: Any,
    telegram_devnet: Any,
) -> AsyncIterator[Stack]:
    """Workers on a client from `connect` (they inherit its tracing interceptor), or on a
    plain client (run_workers adds the interceptor itself)."""
    worker_client: Client = (
        await connect(settings) if request.param == "traced" else temporal_env.client
    )
    s = Stack(
        client=worker_client,
        settings=settings,
        solana=solana_devnet,
        tron=tron_devnet,
        telegram=telegram_devnet,
    )
    await s.start_workers(("solana",), triggers=False)
    try:
        yield s
    finally:
        await s.close()


def by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans if s.context is not None}


def parent_of(span: ReadableSpan, index: dict[int, ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    parent = index.get(span.parent.span_id)
    assert parent is not None, f"the parent of {span.name} was not exported"
    return parent


def assert_one_trace(spans: list[ReadableSpan], workflow_id: str) -> set[str]:
    """The withdrawal's spans form one tree under the client's StartWorkflow span (shape in the
    module docstring); returns the activity types that ran in it."""
    [start] = [
        s
        for s in spans
        if s.name == "StartWorkflow:WithdrawalWorkflow"
        and s.attributes
        and s.attributes.get("temporalWorkflowID") == workflow_id
    ]
    assert start.context is not None and start.parent is None, "the client's span is the root"
    trace_id = start.context.trace_id
    tree = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    index = by_id(tree)

    [run] = [s for s in tree if s.name == "RunWorkflow:WithdrawalWorkflow"]
    assert parent_of(run, index) is start

    ran: set[str] = set()
    for span in tree:
        if span.name.startswith("RunActivity:"):
            activity_type = span.name.split(":", 1)[1]
            scheduled = parent_of(span, index)
            assert scheduled.name == f"StartActivity:{activity_type}"
            assert parent_of(scheduled, index) is start
            assert run.start_time is not None and span.start_time is not None
            assert span.start_time >= run.start_time
            assert span.attributes and span.attributes.get("temporalWorkflowID") == workflow_id
            ran.add(activity_type)
    # Nothing in the trace hangs off anything but this tree.
    for span in tree:
        if span is not start:
            parent_of(span, index)
    return ran


async def test_a_withdrawal_is_one_trace_from_the_start_to_its_activities(
    stack: Stack, exporter: InMemorySpanExporter
) -> None:
    starter_client = await connect(stack.settings)  # what the CLI and the bot use
    to = str(Keypair().pubkey())
    req = withdrawals.build_request(
        stack.settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount="0.01",
        request_id=new_request_id(),
        requested_by="cli:tracer",
    )
    workflow_id, created = await withdrawals.start(starter_client, stack.settings, req)
    assert created
    result: WithdrawalStatus = await withdrawals.handle(starter_client, req.request_id).result()
    assert result.status == "confirmed", result
    assert await sol_balance(stack, to) == 10_000_000

    ran = assert_one_trace(list(exporter.get_finished_spans()), workflow_id)
    assert ran >= WITHDRAWAL_ACTIVITIES, ran


async def test_nothing_is_traced_without_an_endpoint(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry, "_provider", None)
    monkeypatch.setattr(telemetry, "_provider_decided", False)
    assert settings.otel_endpoint is None
    client = await connect(settings)
    assert list(client.config()["interceptors"]) == []
    assert telemetry.tracer_provider(settings) is None
