"""The README's verification recipes (Python, and a shell with openssl) accept what walletflow
signs, during a rotation too, and refuse a tampered body."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import webhooks as rules
from tests.support.tools import system_tool

README = (Path(__file__).parents[2] / "README.md").read_text()


def block(after: str, language: str) -> str:
    """The first ```language block after the line containing `after`."""
    rest = README[README.index(after) :]
    found = re.search(rf"```{language}\n(.*?)```", rest, re.S)
    assert found is not None, f"no {language} block after {after!r}"
    return found.group(1)


def signed(secrets_now: list[str]) -> tuple[dict[str, str], bytes]:
    body = rules.envelope("evt_recipe", "wallet.transfer", datetime.now(UTC), {"amount": "5"})
    return rules.headers(secrets_now, "evt_recipe", int(time.time()), body), body


def test_the_python_recipe() -> None:
    scope: dict[str, Any] = {}
    exec(block("Verify in Python", "python"), scope)
    verify = scope["verify"]
    old, new = rules.new_secret(), rules.new_secret()
    headers, body = signed([new, old])
    assert verify(new, headers, body) and verify(old, headers, body)
    assert not verify(rules.new_secret(), headers, body)
    assert not verify(new, headers, body.replace(b'"5"', b'"6"'))
    # Signed properly, but 10 minutes ago (a replayed capture): the tolerance refuses it.
    stale = rules.headers([new], "evt_recipe", int(time.time()) - 600, body)
    assert not verify(new, stale, body)
    fresh = rules.headers([new], "evt_recipe", int(time.time()) - 60, body)
    assert verify(new, fresh, body)


def test_the_shell_recipe(tmp_path: Path) -> None:
    system_tool("openssl", "apt-get install openssl")
    script = block("Or in a shell", "sh")
    old, new = rules.new_secret(), rules.new_secret()
    headers, body = signed([new, old])

    def run(secret: str, payload: bytes) -> str:
        (tmp_path / "body.json").write_bytes(payload)
        env = {
            "PATH": "/usr/bin:/bin",
            "SECRET": secret,
            "ID": headers["webhook-id"],
            "TS": headers["webhook-timestamp"],
            "SIG": headers["webhook-signature"],
        }
        done = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    assert run(new, body) == "valid" and run(old, body) == "valid"
    assert run(rules.new_secret(), body) == "INVALID"
    assert run(new, body.replace(b'"5"', b'"6"')) == "INVALID"
