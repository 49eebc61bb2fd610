"""Process telemetry: traces, the Temporal SDK runtime (metrics, Core logs) and JSON log lines.

- Tracing: Temporal's `TracingInterceptor` on every client `connect` builds, so a CLI or bot
  start of a workflow, the workflow and its activities share one trace; spans are exported
  over OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set, and nothing is traced otherwise.
- Metrics: the SDK serves its runtime metrics from Rust on an address of its own, which
  prometheus_client cannot share. It listens on a loopback port here and `starter.runtime.health`
  appends its text to prometheus_client's on WALLETFLOW_METRICS_PORT, so each process keeps
  one scrape target with both (and no per-metric translation that could drift).
- Logs: with WALLETFLOW_LOG_FORMAT=json every line is one JSON object, with the workflow and
  activity fields when the record comes from workflow or activity code, and Core's own logs
  are forwarded through the same handler instead of going to stderr in Rust's format.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import Interceptor as WorkerInterceptor

from starter.runtime.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from starter.runtime.health import Health

TRACER_NAME = "walletflow"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
CHATTY_LOGGERS = ("httpx", "httpx2", "httpcore", "hpack")

# ---- tracing ---------------------------------------------------------------------------------

_provider: TracerProvider | None = None
_provider_decided = False


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Trace with `provider` from now on (tests, embedding), whatever the settings say."""
    global _provider, _provider_decided
    _provider, _provider_decided = provider, True


def tracer_provider(settings: Settings) -> TracerProvider | None:
    """The process's tracer provider: built once, exporting over OTLP/gRPC, when
    OTEL_EXPORTER_OTLP_ENDPOINT is set; None (no tracing at all) otherwise."""
    global _provider, _provider_decided
    if not _provider_decided:
        _provider_decided = True
        if settings.otel_endpoint:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            # Batched and in the background: a slow or absent collector never holds up a
            # workflow or activity; spans it cannot take are dropped. Flushed at exit.
            provider = TracerProvider(
                resource=Resource.create({SERVICE_NAME: settings.otel_service_name})
            )
            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint))
            )
            trace.set_tracer_provider(provider)
            _provider = provider
    return _provider


def shutdown_tracing() -> None:
    """Export the spans still queued, for a process that exits without its exit hooks."""
    if _provider is not None:
        _provider.shutdown()


def client_interceptors(settings: Settings) -> list[ClientInterceptor]:
    """For `Client.connect`: the tracing interceptor (which also applies to the client's
    workers), or nothing when tracing is off."""
    provider = tracer_provider(settings)
    return [TracingInterceptor(provider.get_tracer(TRACER_NAME))] if provider else []


def worker_interceptors(client: Client, settings: Settings) -> list[WorkerInterceptor]:
    """Tracing for workers whose client was built without it; a client's own tracing
    interceptor already applies to its workers, and a second one would double every span."""
    if any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"]):
        return []
    provider = tracer_provider(settings)
    return [TracingInterceptor(provider.get_tracer(TRACER_NAME))] if provider else []


# ---- the Temporal SDK runtime ----------------------------------------------------------------


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def install_runtime(settings: Settings) -> str | None:
    """Make the default Temporal runtime of this process, before any client connects: SDK
    metrics on a loopback Prometheus endpoint when WALLETFLOW_METRICS_PORT is set, Core's logs
    into Python logging when logs are JSON. Returns the SDK's metrics URL, if any."""
    if not settings.metrics_port and settings.log_format != "json":
        return None
    url = None
    metrics = None
    if settings.metrics_port:
        port = _free_loopback_port()
        metrics = PrometheusConfig(bind_address=f"127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port}/metrics"
    logs = LoggingConfig.default
    if settings.log_format == "json":
        logs = LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics)),
        error_if_already_set=False,
    )
    return url


# ---- logs ------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and workflow_id, run_id,
    workflow_type, activity_type, activity_id, task_queue, attempt when the record was logged
    from workflow or activity code (Temporal's loggers put them in `temporal_workflow` /
    `temporal_activity`; any other logger inside an activity gets them from its context),
    trace_id and span_id inside a traced call, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(_temporal_fields(record))
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            doc["trace_id"] = trace.format_trace_id(span.trace_id)
            doc["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def _temporal_fields(record: logging.LogRecord) -> dict[str, Any]:
    act = getattr(record, "temporal_activity", None)
    if act is None and activity.in_activity():
        act = activity.info()._logger_details()
    if act:
        return _present(
            workflow_id=act.get("workflow_id"),
            run_id=act.get("workflow_run_id"),
            workflow_type=act.get("workflow_type"),
            activity_type=act.get("activity_type"),
            activity_id=act.get("activity_id"),
            task_queue=act.get("task_queue"),
            attempt=act.get("attempt"),
        )
    wf = getattr(record, "temporal_workflow", None)
    if wf is None and workflow.in_workflow():
        wf = workflow.info()._logger_details()
    if wf:
        return _present(
            workflow_id=wf.get("workflow_id"),
            run_id=wf.get("run_id"),
            workflow_type=wf.get("workflow_type"),
            task_queue=wf.get("task_queue"),
            attempt=wf.get("attempt"),
        )
    return {}


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class Redacting(logging.Formatter):
    """Another formatter's lines with every configured secret masked: a library that logs a
    request URL, or an exception that quotes a DSN, cannot put a key in a log line."""

    def __init__(self, inner: logging.Formatter, secrets: dict[str, str]) -> None:
        super().__init__()
        self.inner = inner
        # longest first: a URL is replaced whole before its query value alone is
        self.secrets = sorted(secrets.items(), key=lambda kv: -len(kv[0]))

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret, mask in self.secrets:
            if secret in line:
                line = line.replace(secret, mask)
        return line


def log_formatter(settings: Settings) -> logging.Formatter:
    """How a process writes log lines: JSON or text, secrets masked."""
    inner = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    return Redacting(inner, settings.secret_texts())


def configure_logging(settings: Settings) -> None:
    """The root handler of a process: JSON lines or plain text on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(settings))
    if settings.log_format == "json":
        # The fields are in the object; Temporal would also append them to the message.
        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    if settings.log_level != "DEBUG":
        # A line per RPC request, with the provider URL (and any API key in it) in the text.
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


# ---- one process -----------------------------------------------------------------------------


@asynccontextmanager
async def process(settings: Settings, *, name: str) -> AsyncIterator[Health]:
    """What every long-running walletflow process sets up first: logging, the SDK runtime,
    tracing, and /healthz, /readyz, /metrics on their ports. The yielded `Health` takes the
    process's readiness checks; it reports "not ready" from the moment the body ends."""
    from starter.runtime.health import Health, OpsServer

    configure_logging(settings)
    sdk_metrics = install_runtime(settings)
    tracer_provider(settings)
    health = Health(name)
    ports: Sequence[int] = sorted({p for p in (settings.health_port, settings.metrics_port) if p})
    server = OpsServer(health, ports, sdk_metrics_url=sdk_metrics)
    if ports:
        await server.start()
    try:
        yield health
    finally:
        health.stopping = True
        await server.stop()
        if _provider is not None:
            _provider.force_flush(timeout_millis=5000)
