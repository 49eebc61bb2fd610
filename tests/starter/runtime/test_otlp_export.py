"""Traces over real OTLP/gRPC across processes, as deployed: a worker process and the CLI
(`walletflow withdraw --wait`), both with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a collector
(a stand-in that records what it receives), send spans of one and the same trace."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest_asyncio
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as pb_grpc
from solders.keypair import Keypair
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.ids import watch_id
from starter.devstack import free_port
from starter.runtime.settings import Settings
from tests.support.ids import new_request_id
from tests.support.processes import ROOT, process_env, running
from tests.support.stack import ensure_roster, eventually


class Collector(pb_grpc.TraceServiceServicer):
    """Keeps every span it is sent, with the service.name of the process that sent it."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []

    async def Export(
        self, request: pb.ExportTraceServiceRequest, context: Any
    ) -> pb.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "?",
            )
            for scope in resource_spans.scope_spans:
                self.spans.extend((service, span) for span in scope.spans)
        return pb.ExportTraceServiceResponse()


@pytest_asyncio.fixture(scope="module", autouse=True)
async def roster(settings: Settings) -> None:
    """The dev principals of `settings`' keys in its database: the CLI signs as `operator`."""
    await ensure_roster(settings)


@pytest_asyncio.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    server = grpc.aio.server()
    servicer = Collector()
    pb_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield servicer, f"http://127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_cli_and_worker_export_one_trace_over_otlp(
    collector: tuple[Collector, str],
    settings: Settings,
    temporal_env: WorkflowEnvironment,
    tmp_path: Any,
) -> None:
    spans, endpoint = collector
    client: Client = temporal_env.client
    try:
        async with running(
            ["-m", "worker_main", "--queues", "solana"],
            settings,
            tmp_path / "worker.log",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_SERVICE_NAME="walletflow-worker-solana",
        ) as worker:
            await worker.wait_ready()
            request_id = new_request_id()
            to = str(Keypair().pubkey())
            args = ["withdraw", "solana", "SOL", to, "0.02", "--request-id", request_id, "--wait"]
            cli = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "starter", *args],
                cwd=ROOT,
                env=process_env(
                    settings,
                    OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                    OTEL_SERVICE_NAME="walletflow-cli",
                ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert cli.returncode == 0, cli.stdout + cli.stderr
            assert '"confirmed"' in cli.stdout

            workflow_id = f"withdrawal-{request_id}"

            def the_trace() -> dict[str, set[str]]:
                """span names per service, in the trace the CLI's StartWorkflow span roots"""
                roots = [
                    s
                    for _, s in spans.spans
                    if s.name == "StartWorkflow:WithdrawalWorkflow"
                    and any(a.value.string_value == workflow_id for a in s.attributes)
                ]
                if not roots:
                    return {}
                found: dict[str, set[str]] = {}
                for service, s in spans.spans:
                    if s.trace_id == roots[0].trace_id:
                        found.setdefault(service, set()).add(s.name)
                return found

            async def complete() -> dict[str, set[str]]:
                found = the_trace()
                worker_spans = found.get("walletflow-worker-solana", set())
                done = "RunActivity:record_withdrawal" in worker_spans and (
                    "CompleteWorkflow:WithdrawalWorkflow" in worker_spans
                )
                return found if done else {}

            # The worker's batch processor exports every few seconds.
            found = await eventually(complete, timeout=30)
            assert found["walletflow-cli"] >= {"StartWorkflow:WithdrawalWorkflow"}
            [root] = [
                s
                for svc, s in spans.spans
                if svc == "walletflow-cli"
                and s.name == "StartWorkflow:WithdrawalWorkflow"
                and any(a.value.string_value == workflow_id for a in s.attributes)
            ]
            [run] = [
                s
                for svc, s in spans.spans
                if s.trace_id == root.trace_id and s.name == "RunWorkflow:WithdrawalWorkflow"
            ]
            assert run.parent_span_id == root.span_id  # across the process boundary
            assert found["walletflow-worker-solana"] >= {
                "RunWorkflow:WithdrawalWorkflow",
                "StartActivity:sign_withdrawal",
                "RunActivity:sign_withdrawal",
                "RunActivity:send_and_confirm",
            }
    finally:
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(watch_id(settings.task_queue("solana"))).terminate()
