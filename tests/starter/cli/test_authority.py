"""Keys, the roster and the audit log from the CLI, and a decision signed by `walletflow intent`
and sent with the `temporal` CLI, on the real workflow and workers (the module's `stack`)."""

from __future__ import annotations

import asyncio
import getpass
import json
import shlex
import stat
import sys
from pathlib import Path

import pytest
from solders.keypair import Keypair

from core.models import WithdrawalStatus
from starter.cli import exits
from starter.client import withdrawals
from tests.support.cli import Result, walletflow
from tests.support.ids import new_request_id
from tests.support.stack import Stack, eventually, stack_cli_env

STACK = {"triggers": False}
BIN = Path(sys.executable).parent  # walletflow and temporal, as `make` installs them


@pytest.fixture
def env(stack: Stack, tmp_path: Path) -> dict[str, str]:
    return stack_cli_env(stack, tmp_path)


async def requested(stack: Stack, env: dict[str, str]) -> str:
    """An 11 SOL withdrawal by the operator key, awaiting approval."""
    rid = new_request_id()
    to = str(Keypair().pubkey())
    r = await walletflow(env, "withdraw", "solana", "SOL", to, "11", "--request-id", rid)
    assert r.code == 0, r

    async def waiting() -> WithdrawalStatus | None:
        current = await withdrawals.status(stack.client, rid)
        return current if current.status == "awaiting_approval" else None

    await eventually(waiting)
    return rid


async def shell(env: dict[str, str], script: str) -> Result:
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_keys_principals_intent_through_the_temporal_cli_and_audit(
    stack: Stack, env: dict[str, str], tmp_path: Path
) -> None:
    # A new key: 0600, never overwritten, and the exact line an admin runs.
    r = await walletflow(env, "keys", "new", "carol", "--role", "approver")
    assert r.code == 0, r
    path = tmp_path / "keys" / "carol.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dave = json.loads((await walletflow(env, "keys", "new", "dave", "--json")).out)
    assert dave["add"].endswith(f"dave --public-key {dave['public_key']} --role ROLE")
    [line] = [x.strip() for x in r.out.splitlines() if x.strip().startswith("walletflow ")]
    assert f"public key: {line.split('--public-key ')[1].split()[0]}" in r.out
    assert line.endswith("--role approver")
    before = path.read_text()
    again = await walletflow(env, "keys", "new", "carol")
    assert again.code == exits.ERROR and "never overwritten" in again.err, again
    assert path.read_text() == before

    # Before it is in the roster, carol's statements are refused by the workflow.
    rid = await requested(stack, env)
    r = await walletflow(env, "approve", rid, "--key", str(path))
    assert r.code == exits.REFUSED and "unknown principal 'carol'" in r.err, r

    # The printed line adds it (as the admin's shell would run it).
    r = await walletflow(env, *shlex.split(line)[1:])
    assert (r.code, r.out.strip()) == (0, "principal carol: saved (approver)"), r
    r = await walletflow(env, *shlex.split(line)[1:])
    assert r.out.strip() == "principal carol: unchanged (approver)", r
    r = await walletflow(env, "principals", "list", "--json")
    roster = {p["id"]: p for p in json.loads(r.out)}
    assert roster["carol"]["roles"] == ["approver"] and not roster["carol"]["revoked"]
    assert roster["bot"]["users"]["tg:1002"] == ["approver"] and roster["bot"]["roles"] == []
    r = await walletflow(
        env,
        "principals",
        "add",
        "svc",
        "--public-key",
        dave["public_key"],
        "--user",
        "tg:7=approver",
        "--user",
        "tg:7=requester",
    )
    assert r.code == 0, r
    r = await walletflow(env, "principals", "list", "--json")
    assert {p["id"]: p for p in json.loads(r.out)}["svc"]["users"] == {
        "tg:7": ["approver", "requester"]
    }
    bad = await walletflow(env, "principals", "add", "x", "--public-key", "00", "--role", "admin")
    assert bad.code == exits.ERROR and "64 hex digits" in bad.err, bad
    bad = await walletflow(
        env, "principals", "add", "x", "--public-key", "ab" * 32, "--role", "god"
    )
    assert bad.code == exits.ERROR and "unknown role 'god'" in bad.err, bad

    # `walletflow intent` piped into the temporal CLI: the update is accepted, and it lands.
    script = (
        f"temporal workflow update execute --address {env['TEMPORAL_ADDRESS']} "
        f"--namespace {env['TEMPORAL_NAMESPACE']} --workflow-id withdrawal-{rid} "
        f'--name approve --input "$(walletflow intent approve {rid} --key {path})"'
    )
    r = await shell(env, script)
    assert r.code == 0 and "outcome:accepted" in r.out, r
    result = await withdrawals.handle(stack.client, rid).result()
    assert result.status == "confirmed" and result.approved_by == ["carol"], result

    # The same statement once more: refused (the workflow is over, and a nonce is used once).
    intent = (await walletflow(env, "intent", "approve", rid, "--key", str(path))).out
    assert len(intent.splitlines()) == 1 and json.loads(intent)["intent"]["intent"]["principal"]
    bad = await walletflow(env, "intent", "withdraw", rid)
    assert bad.code == exits.ERROR and "walletflow withdraw" in bad.err, bad

    # Revoked: carol's next approval is refused, with the reason.
    r = await walletflow(env, "principals", "revoke", "carol")
    assert (r.code, r.out.strip()) == (0, "principal carol: revoked"), r
    r = await walletflow(env, "principals", "revoke", "carol")
    assert r.out.strip() == "principal carol: was revoked already", r
    r = await walletflow(env, "principals", "revoke", "nobody")
    assert r.code == exits.ERROR and "no principal 'nobody'" in r.err, r
    rid2 = await requested(stack, env)
    r = await walletflow(env, "approve", rid2, "--key", str(path))
    assert r.code == exits.REFUSED, r
    assert r.err.strip() == "error: approve refused: principal 'carol' is revoked"
    r = await walletflow(env, "cancel", rid2)  # its requester, the operator key
    assert r.code == 0, r

    # The audit log: the roster's changes by cli:<os user>, every statement and its outcome.
    r = await walletflow(env, "audit", "--json", "--limit", "1000")
    assert r.code == 0, r
    entries = [(e["actor"], e["action"], e["subject"], e["outcome"]) for e in json.loads(r.out)]
    me = f"cli:{getpass.getuser()}"
    assert (me, "principal.add", "principal:carol", "changed") in entries
    assert (me, "principal.revoke", "principal:carol", "changed") in entries
    assert ("carol", "withdrawal.approve", f"withdrawal:{rid}", "refused") in entries
    assert ("carol", "withdrawal.approve", f"withdrawal:{rid}", "accepted") in entries
    assert ("carol", "withdrawal.approve", f"withdrawal:{rid2}", "refused") in entries
    assert ("operator", "withdrawal.withdraw", f"withdrawal:{rid}", "accepted") in entries
    plain = await walletflow(env, "audit", "--since", "2000-01-01T00:00:00Z")
    assert plain.code == 0 and "principal.revoke" in plain.out, plain
    later = await walletflow(env, "audit", "--since", "2999-01-01", "--json")
    assert json.loads(later.out) == []
    bad = await walletflow(env, "audit", "--since", "yesterday")
    assert bad.code == exits.ERROR and "not an ISO date" in bad.err, bad
