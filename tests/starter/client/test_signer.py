"""The client's signing key: written private, never shown."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.errors import UserError
from core.intents import Principal, Roster, verify
from core.models import decision_params
from starter.client.signer import load_key, new_key


def test_a_key_is_written_private_and_never_printed(tmp_path: Path) -> None:
    path = tmp_path / "alice.json"
    signer = new_key(path, "alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signer.private_key.hex() not in repr(signer) and "alice" in repr(signer)
    with pytest.raises(UserError, match="never overwritten"):
        new_key(path, "alice")
    path.chmod(0o644)
    with pytest.raises(UserError, match="readable by others"):
        load_key(path)


def test_a_loaded_key_signs_what_the_roster_verifies(tmp_path: Path) -> None:
    new_key(tmp_path / "bob.json", "bob")
    signer = load_key(tmp_path / "bob.json")
    roster = Roster(
        principals=[Principal(id="bob", public_key=signer.public_key, roles=["approver"])]
    )
    statement = signer.statement("approve", "withdrawal-x", decision_params())
    verdict = verify(
        statement, roster, action="approve", workflow_id="withdrawal-x",
        params=decision_params(), now=statement.intent.issued_at,
    )  # fmt: skip
    assert verdict.ok and verdict.identity == "bob"
