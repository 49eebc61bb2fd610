"""JSON log lines: each record is one JSON object; records from workflow and activity code
carry workflow_id, run_id, workflow_type, task_queue (and activity_type, activity_id) as
fields, whichever logger wrote them inside an activity."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from starter.runtime import telemetry
from starter.runtime.settings import Settings
from tests.starter.runtime.logging_workflow import LoggingWorkflow, log_something


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Records as the JSON handler writes them (with the SDK's settings that json mode sets)."""
    monkeypatch.setattr(activity.logger, "activity_info_on_message", False)
    monkeypatch.setattr(workflow.logger, "workflow_info_on_message", False)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(telemetry.JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_workflow_and_activity_lines_carry_their_ids(
    client: Client, task_queue: str, captured: io.StringIO
) -> None:
    text = f"hello-{uuid.uuid4().hex[:6]}"
    workflow_id = f"logging-{text}"
    async with Worker(
        client, task_queue=task_queue, workflows=[LoggingWorkflow], activities=[log_something]
    ):
        handle = await client.start_workflow(
            LoggingWorkflow.run, text, id=workflow_id, task_queue=task_queue
        )
        assert await handle.result() == text
    run_id = handle.result_run_id
    docs = [d for d in lines(captured) if text in str(d["message"])]

    [wf] = [d for d in docs if d["message"] == f"workflow says {text}"]
    assert wf["logger"] == "temporalio.workflow" and wf["level"] == "INFO"
    assert wf["workflow_id"] == workflow_id and wf["run_id"] == run_id
    assert wf["workflow_type"] == "LoggingWorkflow" and wf["task_queue"] == task_queue
    assert "activity_type" not in wf

    for message, logger in (
        (f"activity says {text}", "temporalio.activity"),
        (f"library says {text}", "walletflow.test.library"),
    ):
        [act] = [d for d in docs if d["message"] == message]
        assert act["logger"] == logger
        assert act["workflow_id"] == workflow_id and act["run_id"] == run_id
        assert act["activity_type"] == "log_something" and act["activity_id"] == "1"
        assert act["task_queue"] == task_queue and act["workflow_type"] == "LoggingWorkflow"


def test_plain_lines_exceptions_and_newlines_stay_one_json_object_each(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("walletflow.test")
    log.info('two\nlines and a "quote"')
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    raw = captured.getvalue().splitlines()
    assert len(raw) == 2
    first, second = (json.loads(line) for line in raw)
    assert first["message"] == 'two\nlines and a "quote"'
    assert set(first) == {"time", "level", "logger", "message"}
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_configure_logging_json_turns_off_the_sdk_message_suffix() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        telemetry.configure_logging(Settings(WALLETFLOW_LOG_FORMAT="json"))
        formatter = root.handlers[0].formatter
        assert isinstance(formatter, telemetry.Redacting)
        assert isinstance(formatter.inner, telemetry.JsonFormatter)
        assert activity.logger.activity_info_on_message is False
        assert workflow.logger.workflow_info_on_message is False
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        activity.logger.activity_info_on_message = True
        workflow.logger.workflow_info_on_message = True
        logging.getLogger("httpx").setLevel(logging.NOTSET)
