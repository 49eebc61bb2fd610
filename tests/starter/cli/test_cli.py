"""The CLI's contract with scripts: --version, --json documents on stdout alone, full values
when piped, and the documented exit codes (starter/cli/exits.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import pytest_asyncio
from solders.keypair import Keypair
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from core.models import Actor, WithdrawalRequest, WithdrawalStatus
from starter.cli import exits
from tests.support.cli import cli_env, walletflow

STAY = "1"  # the stand-in below waits for approval forever
REJECT = "2"  # ... is rejected after a moment


@workflow.defn(name="WithdrawalWorkflow")
class StandInWithdrawal:
    """Answers like the real withdrawal (its `status` query and result), without chains."""

    def __init__(self) -> None:
        self.state: WithdrawalStatus | None = None

    @workflow.run
    async def run(self, req: WithdrawalRequest) -> WithdrawalStatus:
        self.state = WithdrawalStatus(
            request_id=req.request_id,
            chain=req.chain,
            asset=req.asset,
            to=req.to,
            amount=req.amount,
            requested_by=req.requested_by,
            status="awaiting_approval",
        )
        if req.amount == STAY:
            await workflow.wait_condition(lambda: False)
        await workflow.sleep(timedelta(seconds=1.5))
        self.state = self.state.model_copy(update={"status": "rejected", "reason": "by bob"})
        return self.state

    @workflow.query
    def status(self) -> WithdrawalStatus:
        assert self.state is not None
        return self.state

    @workflow.signal
    def approve(self, actor: Actor) -> None:
        pass


@pytest_asyncio.fixture
async def env(client: Client, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    async with Worker(
        client,
        task_queue=f"{prefix}solana",
        workflows=[StandInWithdrawal],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield cli_env(
            tmp_path,
            TEMPORAL_ADDRESS=client.service_client.config.target_host,
            TEMPORAL_NAMESPACE=client.namespace,
            WALLETFLOW_TASK_QUEUE_PREFIX=prefix,
        )


def request_id() -> str:
    return "a-long-request-id-that-a-narrow-table-would-cut-" + uuid.uuid4().hex[:14]


def withdraw(amount: str, rid: str, *more: str) -> list[str]:
    to = str(Keypair().pubkey())
    by = ["--by", "cli:alice"]
    return ["withdraw", "solana", "SOL", to, amount, "--request-id", rid, *by, *more]


async def test_version(tmp_path: Path) -> None:
    r = await walletflow(cli_env(tmp_path), "--version")
    assert (r.code, r.out, r.err) == (exits.OK, f"walletflow {version('walletflow')}\n", "")


async def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (["no-such-command"], ["withdraw", "solana"], ["list", "--no-such-option"]):
        r = await walletflow(cli_env(tmp_path), *args)
        assert r.code == exits.USAGE == 2, (args, r)
        assert r.out == ""


async def test_bad_values_exit_1_with_one_line(tmp_path: Path) -> None:
    to = str(Keypair().pubkey())
    rid = ["--request-id", "r1"]
    cases = [
        (["withdraw", "ethereum", "SOL", to, "1"], "unknown chain 'ethereum'"),
        (["withdraw", "solana", "DOGE", to, "1"], "unknown asset 'DOGE'"),
        (["withdraw", "solana", "SOL", to, "0"], "amount"),
    ]
    for args, says in cases:
        r = await walletflow(cli_env(tmp_path), *args, *rid)
        assert r.code == exits.ERROR == 1, (args, r)
        assert r.out == ""
        lines = r.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], r.err


async def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    r = await walletflow(cli_env(tmp_path, COLUMNS="200"), "--help")
    assert r.code == 0
    text = " ".join(r.out.split())
    for code in (exits.OK, exits.ERROR, exits.USAGE, exits.REFUSED, exits.TIMED_OUT):
        assert f"{code} " in text.split("Exit codes:", 1)[1]
    assert "3 refused by policy" in text and "4 timed out waiting" in text


async def test_list_json_piped_parses_and_carries_full_ids(env: dict[str, str]) -> None:
    rid = request_id()
    r = await walletflow(env, *withdraw(STAY, rid))
    assert r.code == 0, r.err
    workflow_id = f"withdrawal-{rid}"
    for _ in range(40):  # visibility is eventually consistent
        r = await walletflow(env, "list", "--json")
        assert r.code == 0, r.err
        doc = json.loads(r.out)  # one document, nothing else on stdout
        if any(row["workflow_id"] == workflow_id for row in doc):
            break
        await asyncio.sleep(0.25)
    row = next(row for row in doc if row["workflow_id"] == workflow_id)
    assert row["chain"] == "solana" and row["type"] == "WithdrawalWorkflow"

    plain = await walletflow(env | {"COLUMNS": "40"}, "list")
    assert plain.code == 0
    assert workflow_id in plain.out.split()  # piped: printed in full, never shortened


async def test_self_approval_is_refused_with_3(env: dict[str, str]) -> None:
    rid = request_id()
    assert (await walletflow(env, *withdraw(STAY, rid))).code == 0
    r = await walletflow(env, "approve", rid, "--by", "cli:alice")
    assert r.code == exits.REFUSED == 3, r
    assert r.err.strip() == "error: you cannot approve your own withdrawal"


async def test_wait_json_shows_progress_on_stderr_and_exits_3_when_not_confirmed(
    env: dict[str, str],
) -> None:
    rid = request_id()
    r = await walletflow(env, *withdraw(REJECT, rid, "--wait", "--json"))
    assert r.code == exits.REFUSED, r
    doc = json.loads(r.out)
    assert doc["workflow_id"] == f"withdrawal-{rid}" and doc["created"] is True
    assert doc["result"]["status"] == "rejected"
    assert f"withdrawal-{rid}: awaiting_approval" in r.err
    assert f"withdrawal-{rid}: rejected (by bob)" in r.err
    assert r.err.splitlines()[-1] == f"error: withdrawal {rid} ended rejected, not confirmed"


async def test_wait_timeout_exits_4(env: dict[str, str]) -> None:
    rid = request_id()
    r = await walletflow(env, *withdraw(STAY, rid, "--wait", "--timeout", "2", "--json"))
    assert r.code == exits.TIMED_OUT == 4, r
    assert r.out == ""
    assert "awaiting_approval" in r.err
    assert r.err.splitlines()[-1].startswith(f"error: withdrawal-{rid} is still awaiting_approval")
