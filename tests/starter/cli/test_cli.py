"""The CLI's contract with scripts: --version, --json documents on stdout alone, full values
when piped, and the documented exit codes (starter/cli/exits.py). Withdrawals run on the real
workflow and workers (the module's `stack`), signed with the stack's dev keys."""

from __future__ import annotations

import asyncio
import json
import uuid
from importlib.metadata import version
from pathlib import Path

import pytest
from solders.keypair import Keypair

from core.models import WithdrawalStatus
from starter.cli import exits
from starter.client import withdrawals
from tests.support.cli import Result, cli_env, walletflow
from tests.support.stack import Stack, eventually, stack_cli_env

STACK = {"triggers": False}  # withdrawals only: no chain triggers
BIG = "11"  # SOL: above the 10 SOL threshold, so it waits for an approver


@pytest.fixture
def env(stack: Stack, tmp_path: Path) -> dict[str, str]:
    """The stack's settings as a CLI's environment: its Temporal, database and operator key."""
    return stack_cli_env(stack, tmp_path)


def key(stack: Stack, name: str) -> str:
    return str(stack.settings.signing_key().parent / f"{name}.json")


def request_id() -> str:
    return "a-long-request-id-that-a-narrow-table-would-cut-" + uuid.uuid4().hex[:14]


def withdraw(amount: str, rid: str, *more: str) -> list[str]:
    to = str(Keypair().pubkey())
    return ["withdraw", "solana", "SOL", to, amount, "--request-id", rid, *more]


async def awaiting(stack: Stack, rid: str) -> WithdrawalStatus:
    async def waiting() -> WithdrawalStatus | None:
        try:
            current = await withdrawals.status(stack.client, rid)
        except Exception:
            return None
        return current if current.status == "awaiting_approval" else None

    found: WithdrawalStatus = await eventually(waiting)
    return found


def one_error_line(r: Result) -> str:
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    return lines[0]


async def test_version(tmp_path: Path) -> None:
    r = await walletflow(cli_env(tmp_path), "--version")
    assert (r.code, r.out, r.err) == (exits.OK, f"walletflow {version('walletflow')}\n", "")


async def test_settings_masks_every_secret(tmp_path: Path) -> None:
    """`walletflow settings` shows which settings are set, never a password or an API key."""
    secrets = {
        "DATABASE_URL": "postgresql://walletflow:dbpw-s3cret-42@db:5432/walletflow",
        "SOLANA_RPC_URL": "https://mainnet.helius-rpc.com/?api-key=rpc-s3cret-42,"
        "https://x.solana-mainnet.quiknode.pro/qn0s3cret0token0042/",
        "TRON_API_KEY": "tron-s3cret-42",
        "TELEGRAM_BOT_TOKEN": "123456:bot-s3cret-42",
        "TEMPORAL_API_KEY": "temporal-s3cret-42",
        "WALLETFLOW_CODEC_KEYS": "k1:" + "A" * 43 + "=",
        "WALLETFLOW_CODEC_SERVER_TOKEN": "codec-s3cret-42",
    }
    shown = await walletflow(cli_env(tmp_path, COLUMNS="400", **secrets), "settings")
    assert shown.code == 0, shown.err
    for leak in ("s3cret", "A" * 20):
        assert leak not in shown.out
    assert "https://mainnet.helius-rpc.com/***" in shown.out  # which provider, not its key
    assert shown.out.count("***") >= len(secrets)


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


async def test_removed_by_option_is_one_usage_line(tmp_path: Path) -> None:
    for args in (["approve", "r1", "--by", "alice"], [*withdraw("1", "r1"), "--by", "alice"]):
        r = await walletflow(cli_env(tmp_path), *args)
        assert r.code == exits.USAGE, r
        assert "--by is gone" in one_error_line(r) and r.out == ""


async def test_list_json_piped_parses_and_carries_full_ids(
    stack: Stack, env: dict[str, str]
) -> None:
    rid = request_id()
    r = await walletflow(env, *withdraw(BIG, rid))
    assert r.code == 0, r.err
    assert r.out.strip() == f"withdrawal started: withdrawal-{rid}"
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
    # The request is the key's: the workflow verified who signed it.
    assert (await awaiting(stack, rid)).requested_by == "operator"


async def test_a_decision_the_workflow_refuses_exits_3_with_its_reason(
    stack: Stack, env: dict[str, str]
) -> None:
    rid = request_id()
    assert (await walletflow(env, *withdraw(BIG, rid))).code == 0
    await awaiting(stack, rid)
    # The operator key (requester, admin) lacks the approver role; it is also the requester.
    r = await walletflow(env, "approve", rid)
    assert r.code == exits.REFUSED == 3, r
    assert r.out == ""
    reason = "operator may not approve: it needs the approver role"
    assert one_error_line(r) == f"error: approve refused: {reason}"
    r = await walletflow(env, "approve", rid, "--json")
    assert r.code == exits.REFUSED, r
    assert json.loads(r.out) == {
        "workflow_id": f"withdrawal-{rid}",
        "action": "approve",
        "principal": "operator",
        "outcome": "refused",
        "reason": reason,
    }
    # The approver's key is accepted, and the withdrawal lands.
    r = await walletflow(env, "approve", rid, "--key", key(stack, "approver"))
    assert (r.code, r.out.strip()) == (
        exits.OK,
        f"approve accepted: withdrawal-{rid} (signed by approver)",
    ), r
    result = await withdrawals.handle(stack.client, rid).result()
    assert result.status == "confirmed" and result.approved_by == ["approver"], result
    # Too late now: refused by the workflow's state.
    r = await walletflow(env, "cancel", rid, "--json")
    assert r.code == exits.REFUSED and json.loads(r.out)["outcome"] == "refused", r
    assert "too late" in one_error_line(r)


async def test_wait_json_shows_progress_on_stderr_and_exits_3_when_not_confirmed(
    stack: Stack, env: dict[str, str]
) -> None:
    rid = request_id()
    waiting = asyncio.create_task(walletflow(env, *withdraw(BIG, rid, "--wait", "--json")))
    await awaiting(stack, rid)
    r = await walletflow(
        env, "reject", rid, "--reason", "not today", "--key", key(stack, "approver")
    )
    assert (
        r.code == 0 and r.out.strip() == f"reject accepted: withdrawal-{rid} (signed by approver)"
    )
    r = await waiting
    assert r.code == exits.REFUSED, r
    doc = json.loads(r.out)
    assert doc["workflow_id"] == f"withdrawal-{rid}" and doc["created"] is True
    assert doc["result"]["status"] == "rejected"
    # Progress is polled (every 0.5 s): the short awaiting_approval may pass unseen under load.
    assert f"withdrawal started: withdrawal-{rid}" in r.err
    assert f"withdrawal-{rid}: rejected (rejected by approver: not today)" in r.err
    assert r.err.splitlines()[-1] == f"error: withdrawal {rid} ended rejected, not confirmed"


async def test_wait_timeout_exits_4(stack: Stack, env: dict[str, str]) -> None:
    rid = request_id()
    r = await walletflow(env, *withdraw(BIG, rid, "--wait", "--timeout", "3", "--json"))
    assert r.code == exits.TIMED_OUT == 4, r
    assert r.out == ""
    assert "awaiting_approval" in r.err
    assert r.err.splitlines()[-1].startswith(f"error: withdrawal-{rid} is still awaiting_approval")
    # Cancelled by its requester (the operator key): accepted.
    r = await walletflow(env, "cancel", rid, "--reason", "test over")
    assert r.code == 0, r
    result = await withdrawals.handle(stack.client, rid).result()
    assert result.status == "cancelled"
