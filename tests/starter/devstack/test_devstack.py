"""`walletflow dev` as a user runs it: a subprocess in a temporary home."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from starter.devstack import READY_LINE, free_port

pytestmark = pytest.mark.slow


def dev_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WALLETFLOW_"))}
    for key in ("DATABASE_URL", "SOLANA_RPC_URL", "TRON_API_URL", "TELEGRAM_BOT_TOKEN"):
        env.pop(key, None)
    temporal = free_port()
    env.update(
        WALLETFLOW_HOME=str(home),
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal}",
        TEMPORAL_UI_PORT=str(free_port()),
        WALLETFLOW_SOLANA_PORT=str(free_port()),
        WALLETFLOW_TRON_PORT=str(free_port()),
        WALLETFLOW_TELEGRAM_PORT=str(free_port()),
        WALLETFLOW_DEVNET_FAST="1",
    )
    return env


def walletflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "starter", *args]


class Dev:
    """A running `walletflow dev` and every process it started."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            walletflow("dev", *args),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.ready_after = self._wait_ready()
        self.tree = [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]

    def _wait_ready(self, timeout: float = 60) -> float:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.output.append(line)
            if READY_LINE in line:
                return time.monotonic() - self.started
            if time.monotonic() > deadline:
                break
        raise AssertionError("walletflow dev did not become ready:\n" + "".join(self.output))

    def stop(self, sig: int = signal.SIGTERM) -> float:
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)
        return time.monotonic() - started


@pytest.fixture
def dev_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"


def alive(pids: list[int]) -> list[int]:
    return [
        p
        for p in pids
        if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]


def test_dev_starts_stops_clean_and_keeps_state(dev_home: Path) -> None:
    env = dev_env(dev_home)
    dev = Dev(env)
    try:
        devnet = json.loads((dev_home / "devnet.json").read_text())
        assert httpx.get(devnet["web_ui"], timeout=5).status_code == 200
        assert devnet["solana"]["accounts"] and devnet["tron"]["accounts"]
        assert devnet["telegram"]["api_url"].startswith("http://")
        assert len(dev.tree) >= 4, dev.tree  # temporal, postgres, devnets, worker (+ bot)
        address = devnet["solana"]["accounts"][3]["address"]
        watched = subprocess.run(
            walletflow("watch", "solana", address, "--chat", "42"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert watched.returncode == 0, watched.stderr
        took = dev.stop()
    finally:
        if dev.proc.poll() is None:
            dev.proc.kill()
    assert dev.proc.returncode == 0, "".join(dev.output)
    assert took < 10, f"stopping took {took:.1f}s"
    assert alive(dev.tree) == [], "processes left behind"

    again = Dev(env)
    try:
        status = subprocess.run(
            walletflow("status", f"wallet-solana-{address}"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert doc["execution"] == "RUNNING"
        assert doc["status"]["subscribers"][0]["chat_id"] == 42  # the running workflow answers
    finally:
        again.stop()
    assert alive(again.tree) == []


def test_dev_encrypt_runs_the_codec_server_the_web_ui_uses(dev_home: Path) -> None:
    env = dev_env(dev_home) | {"WALLETFLOW_CODEC_SERVER_PORT": str(free_port())}
    dev = Dev(env, "--encrypt")
    try:
        devnet = json.loads((dev_home / "devnet.json").read_text())
        codec = devnet["codec"]
        assert codec["endpoint"] == f"http://localhost:{env['WALLETFLOW_CODEC_SERVER_PORT']}"
        ui = httpx.get(f"{devnet['web_ui']}/api/v1/settings", timeout=5).json()
        assert ui["Codec"]["Endpoint"] == codec["endpoint"]  # the dev server's --ui-codec-endpoint
        # A CLI in another shell names the dev key ring, as the panel says.
        cli_env = env | {"WALLETFLOW_CODEC_KEYS": codec["keys"]}
        address, label = devnet["solana"]["accounts"][3]["address"], "label-in-a-payload"
        watched = subprocess.run(
            walletflow("watch", "solana", address, "--chat", "42", "--label", label),
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert watched.returncode == 0, watched.stderr
        workflow_id = f"wallet-solana-{address}"
        status = subprocess.run(
            walletflow("status", workflow_id), env=cli_env, capture_output=True, text=True
        )
        assert json.loads(status.stdout)["status"]["subscribers"][0]["label"] == label
        temporal = [
            str(Path(sys.executable).parent / "temporal"),
            "workflow",
            "show",
            "--workflow-id",
            workflow_id,
            "--address",
            env["TEMPORAL_ADDRESS"],
            "--output",
            "json",
        ]
        raw = subprocess.run(temporal, capture_output=True, text=True, timeout=30)
        assert raw.returncode == 0 and label not in _decoded(raw.stdout)
        token = Path(codec["token_file"]).read_text().strip()
        auth = ["--codec-endpoint", codec["endpoint"], "--codec-auth", f"Bearer {token}"]
        opened = subprocess.run([*temporal, *auth], capture_output=True, text=True, timeout=30)
        assert opened.returncode == 0 and label in _decoded(opened.stdout), opened.stderr
    finally:
        dev.stop()
    assert dev.proc.returncode == 0, "".join(dev.output)
    assert alive(dev.tree) == []


def _decoded(text: str) -> str:
    """A history's JSON with every base64 payload `data` decoded beside it."""
    found = re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', text)
    return text + "".join(base64.b64decode(d).decode(errors="replace") for d in found)


def test_port_taken_is_one_clear_line(dev_home: Path) -> None:
    env = dev_env(dev_home)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["TEMPORAL_UI_PORT"] = str(port)
        result = subprocess.run(
            walletflow("dev"), env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: port {port} is already in use (TEMPORAL_UI_PORT); stop what uses it or set "
        "TEMPORAL_UI_PORT"
    )
    assert not (dev_home / "temporal.db").exists()  # nothing was started


def test_unreachable_database_is_one_clear_line(dev_home: Path) -> None:
    env = dev_env(dev_home)
    env["DATABASE_URL"] = f"postgresql://walletflow:secret@127.0.0.1:{free_port()}/walletflow"
    result = subprocess.run(walletflow("dev"), env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to DATABASE_URL"), lines
    assert "secret" not in result.stderr  # the password is never printed
    assert not dev_home.exists()  # failed before starting anything


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "WALLETFLOW_SHUTDOWN_TIMEOUT",
            "soon",
            "error: invalid setting WALLETFLOW_SHUTDOWN_TIMEOUT",
        ),
        ("TEMPORAL_ADDRESS", "localhost", "error: invalid setting TEMPORAL_ADDRESS"),
        ("WALLETFLOW_LOG_LEVEL", "LOUD", "error: invalid setting WALLETFLOW_LOG_LEVEL"),
    ],
)
def test_invalid_setting_is_one_clear_line(
    dev_home: Path, name: str, value: str, expected: str
) -> None:
    env = dev_env(dev_home) | {name: value}
    result = subprocess.run(walletflow("dev"), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(expected), result.stderr
    assert not dev_home.exists() or not any(dev_home.iterdir())
