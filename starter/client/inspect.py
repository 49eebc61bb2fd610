"""Read-only views for people: workflow status, the running list, and the workers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import RateLimitSource, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

import chains
from core import search_attributes as sa
from core.errors import UserError
from core.ids import push_id
from core.models import ShardHealth
from starter.runtime.settings import QUEUES, Settings

WORKFLOW_TYPES = ("WalletMonitorWorkflow", "WithdrawalWorkflow")


async def status(client: Client, workflow_id: str) -> dict[str, Any]:
    """The workflow's own `status` query (raw JSON), plus its Temporal execution status."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        desc = await handle.describe()
        answer = (
            await handle.query("status") if desc.status and desc.status.name == "RUNNING" else None
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"no workflow with id {workflow_id!r}") from None
        raise
    doc: dict[str, Any] = {
        "workflow_id": workflow_id,
        "type": desc.workflow_type,
        "execution": desc.status.name if desc.status else "UNKNOWN",
        "started": desc.start_time.isoformat(),
    }
    if answer is not None:
        doc["status"] = json.loads(json.dumps(answer, default=str))
    elif desc.status and desc.status.name == "COMPLETED":
        doc["result"] = json.loads(json.dumps(await handle.result(), default=str))
    return doc


@dataclass
class Row:
    workflow_id: str
    type: str
    chain: str
    subject: str
    state: str
    started: datetime

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "started": self.started.isoformat()}


async def running(client: Client) -> list[Row]:
    types = ", ".join(f"'{t}'" for t in WORKFLOW_TYPES)
    rows = []
    async for wf in client.list_workflows(
        f"ExecutionStatus = 'Running' AND WorkflowType IN ({types})"
    ):
        attrs = wf.typed_search_attributes
        rows.append(
            Row(
                workflow_id=wf.id,
                type=wf.workflow_type,
                chain=attrs.get(sa.CHAIN) or "",
                subject=attrs.get(sa.ADDRESS) or attrs.get(sa.ASSET) or "",
                state=attrs.get(sa.STATUS) or "",
                started=wf.start_time,
            )
        )
    return sorted(rows, key=lambda r: r.started)


@dataclass
class QueueInfo:
    queue: str
    kind: str
    pollers: list[tuple[str, datetime | None]]
    backlog: int
    rate_limit: float | None = None  # activities/s the queue is held to (a worker sets it)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "kind": self.kind,
            "pollers": [
                {"identity": who, "last_access": when.isoformat() if when else None}
                for who, when in self.pollers
            ],
            "backlog": self.backlog,
            "rate_limit": self.rate_limit,
        }


async def workers(client: Client, settings: Settings) -> list[QueueInfo]:
    """Pollers (identity, last access), backlog and rate limit per task queue and kind."""
    found = []
    for queue in QUEUES:
        name = settings.task_queue(queue)
        for kind, tq_type in (
            ("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
            ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
        ):
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=name),
                    task_queue_type=tq_type,
                    report_stats=True,
                    report_config=True,
                )
            )
            pollers = [
                (
                    p.identity,
                    p.last_access_time.ToDatetime() if p.HasField("last_access_time") else None,
                )
                for p in resp.pollers
            ]
            # Set by a worker (walletflow's per-chain setting) or by an operator through the
            # API; otherwise the server's default, which limits nothing in practice.
            limited = resp.effective_rate_limit.rate_limit_source in (
                RateLimitSource.RATE_LIMIT_SOURCE_WORKER,
                RateLimitSource.RATE_LIMIT_SOURCE_API,
            )
            rate = resp.effective_rate_limit.requests_per_second
            found.append(
                QueueInfo(
                    name,
                    kind,
                    pollers,
                    int(resp.stats.approximate_backlog_count),
                    rate_limit=rate if kind == "activity" and limited else None,
                )
            )
    return found


@dataclass
class PushInfo:
    """A chain's push follower (`push-{queue}`), from its activity's last heartbeat."""

    queue: str
    running: bool
    shards: list[ShardHealth]

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "kind": "push",
            "running": self.running,
            "shards": [s.model_dump(mode="json") for s in self.shards],
        }


async def push_health(client: Client, settings: Settings) -> list[PushInfo]:
    """Per chain: whether its push follower runs, and each shard's health (per connection,
    never per wallet: that would grow with the wallets)."""
    found = []
    for chain in chains.CHAINS:
        queue = settings.task_queue(chain)
        try:
            desc = await client.get_workflow_handle(push_id(queue)).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            found.append(PushInfo(queue, False, []))
            continue
        shards: list[ShardHealth] = []
        for pending in desc.raw_description.pending_activities:
            if pending.HasField("heartbeat_details") and pending.heartbeat_details.payloads:
                [details] = await client.data_converter.decode(
                    pending.heartbeat_details.payloads, [list[ShardHealth]]
                )
                shards = details
        running = desc.status == WorkflowExecutionStatus.RUNNING
        found.append(PushInfo(queue, running, shards))
    return found
