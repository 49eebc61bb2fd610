"""Reaching Temporal through a real TLS endpoint: nginx terminating TLS in front of the dev
server (tests/support/tls.py), with three doors: TLS with a private CA, mTLS, and an API key.

Each way in works with the same TEMPORAL_* variables (or profile file) as the `temporal` CLI,
a worker's long polls survive the terminator, and each misconfiguration makes `walletflow`
print one line that names its cause (starter/client `explain`), without a traceback."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.errors import UserError
from starter.client import connect
from starter.runtime.settings import Settings
from tests.starter.runtime.logging_workflow import LoggingWorkflow, log_something
from tests.support.cli import cli_env, temporal, walletflow
from tests.support.tls import Terminator, tls_terminator

# A Temporal long poll that finds nothing is answered after about a minute: a worker idle for
# longer has had a poll held open that long by the terminator (the dev server answers them
# after 55-60 s).
LONG_POLL_IDLE = 75
LONG_POLL = 50
# A connect failure is one attempt (Client.connect does not retry it): seconds, not minutes.
FAILS_WITHIN = 20


@pytest.fixture(scope="module")
def nginx(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Terminator]:
    upstream = temporal_env.client.service_client.config.target_host
    with tls_terminator(upstream, tmp_path_factory.mktemp("tls")) as terminator:
        yield terminator


@pytest.fixture(autouse=True)
def no_temporal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no TEMPORAL_* of ours, no ~/.config/temporalio/temporal.toml."""
    for name in [k for k in os.environ if k.startswith("TEMPORAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def settings(**env: str) -> Settings:
    return Settings(**env)  # type: ignore[arg-type]  # by alias, as the environment names them


async def system_info(client: Client) -> None:
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version


def polls(nginx: Terminator, port: str) -> list[tuple[str, int, float, str]]:
    """(rpc, HTTP status, seconds, grpc-status) of each request through the door at `port`."""
    found = []
    for line in nginx.log_lines():
        server_port, uri, status, seconds, grpc = line.split(" ")
        if server_port == port:
            found.append(
                (uri.rsplit("/", 1)[-1], int(status), float(seconds), grpc.removeprefix("grpc="))
            )
    return found


# ---- each door works ----------------------------------------------------------------------


async def test_a_worker_runs_a_workflow_through_tls_with_a_private_ca(
    nginx: Terminator, task_queue: str
) -> None:
    client = await connect(
        settings(
            TEMPORAL_ADDRESS=nginx.tls,
            TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(nginx.pki.ca),
        )
    )
    assert client.service_client.config.target_host == nginx.tls
    await system_info(client)
    text = f"tls-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client, task_queue=task_queue, workflows=[LoggingWorkflow], activities=[log_something]
    ):
        handle = await client.start_workflow(
            LoggingWorkflow.run, text, id=f"tls-{text}", task_queue=task_queue
        )
        assert await handle.result() == text
    # The worker's polls and the client's calls went through nginx, not around it.
    rpcs = {rpc for rpc, *_ in polls(nginx, nginx.tls.rsplit(":", 1)[1])}
    assert {"PollWorkflowTaskQueue", "PollActivityTaskQueue", "StartWorkflowExecution"} <= rpcs


@pytest.mark.slow
async def test_long_polls_last_through_the_terminator(nginx: Terminator, task_queue: str) -> None:
    """A worker idle past one long poll (55-60 s, at the edge of nginx's default 60 s read
    timeout, which tls.GRPC_TIMEOUT raises to 300 s) still gets its next task at once: the poll
    ended in an empty answer (HTTP 200, grpc-status 0), not in a 504 from the terminator."""
    client = await connect(
        settings(
            TEMPORAL_ADDRESS=nginx.tls,
            TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(nginx.pki.ca),
        )
    )
    port = nginx.tls.rsplit(":", 1)[1]
    text = f"idle-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client, task_queue=task_queue, workflows=[LoggingWorkflow], activities=[log_something]
    ):
        await asyncio.sleep(LONG_POLL_IDLE)
        started = time.monotonic()
        handle = await client.start_workflow(
            LoggingWorkflow.run, text, id=f"tls-{text}", task_queue=task_queue
        )
        assert await handle.result() == text
        assert time.monotonic() - started < 10  # picked up by a live poll, not after a retry
    seen = polls(nginx, port)
    long = [p for p in seen if p[0].startswith("Poll") and p[2] >= LONG_POLL]
    assert long, f"no poll lasted {LONG_POLL} s or more: {seen}"
    # grpc-status 0 in the trailers ("-": none in the headers): an empty answer, not an error
    assert all(status == 200 and grpc == "-0" for _, status, _, grpc in long), long
    assert not [p for p in seen if p[1] >= 500], seen


async def test_mtls_with_a_client_certificate_for_walletflow_and_the_temporal_cli(
    nginx: Terminator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(nginx.pki.ca),
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(nginx.pki.client_cert),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(nginx.pki.client_key),
    }
    client = await connect(settings(TEMPORAL_ADDRESS=nginx.mtls, **env))
    ns = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert ns.namespace_info.name == "default"

    for name, value in env.items():  # the CLI reads the same variables itself
        monkeypatch.setenv(name, value)
    done = await temporal(nginx.mtls, "operator", "namespace", "describe", "--namespace", "default")
    assert done.returncode == 0, done.stderr
    assert re.search(r"NamespaceInfo\.Name\s+default", done.stdout), done.stdout
    # and the door does need the certificate, for the CLI too
    monkeypatch.delenv("TEMPORAL_TLS_CLIENT_CERT_PATH")
    monkeypatch.delenv("TEMPORAL_TLS_CLIENT_KEY_PATH")
    refused = await temporal(nginx.mtls, "operator", "namespace", "describe", "-n", "default")
    assert refused.returncode != 0
    assert "No required SSL certificate was sent" in refused.stderr


async def test_an_api_key_turns_tls_on_and_is_sent(nginx: Terminator) -> None:
    client = await connect(
        settings(
            TEMPORAL_ADDRESS=nginx.api_key,
            TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(nginx.pki.ca),
            TEMPORAL_API_KEY=nginx.key,
        )
    )
    await system_info(client)
    await client.count_workflows()


async def test_a_profile_file_connects_walletflow_and_its_cli(
    nginx: Terminator, tmp_path: Path
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.secure]\naddress = "{nginx.tls}"\nnamespace = "default"\n\n'
        f'[profile.secure.tls]\nserver_ca_cert_path = "{nginx.pki.ca}"\n'
    )
    chosen = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "secure"}
    client = await connect(settings(**chosen))
    assert client.service_client.config.target_host == nginx.tls
    await system_info(client)

    home = tmp_path / "home"
    home.mkdir()
    done = await walletflow(cli_env(home, HOME=str(tmp_path), **chosen), "list", "--json")
    assert done.code == 0, done.err
    assert done.out.strip().startswith("[")


# ---- each misconfiguration is one line naming its cause ----------------------------------


CAUSES = {
    "no client certificate": (
        "mtls",
        {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "ca"},
        "the server requires a client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH): "
        "it answered HTTP 400 to a TLS client without one",
    ),
    "an unrelated CA": (
        "tls",
        {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "other_ca"},
        "the server's certificate is not signed by a trusted CA (TEMPORAL_TLS_SERVER_CA_CERT_PATH)",
    ),
    "a wrong API key": (
        "api_key",
        {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "ca", "TEMPORAL_API_KEY": "not-the-key"},
        "the API key was refused (TEMPORAL_API_KEY)",
    ),
    "no API key": (
        "api_key",
        {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "ca"},
        "the server requires an API key (TEMPORAL_API_KEY)",
    ),
    "another server name": (
        "tls",
        {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "ca", "TEMPORAL_TLS_SERVER_NAME": "example.com"},
        "the server's certificate does not name this host (TEMPORAL_TLS_SERVER_NAME)",
    ),
    "plaintext": (
        "tls",
        {},
        "the server closed a plaintext connection: does it require TLS (TEMPORAL_TLS)?",
    ),
}


@pytest.mark.parametrize("cause", list(CAUSES))
async def test_walletflow_names_the_cause_in_one_line(
    nginx: Terminator, tmp_path: Path, cause: str
) -> None:
    door, given, expected = CAUSES[cause]
    address = getattr(nginx, door)
    env = {
        k: str(getattr(nginx.pki, v)) if v in ("ca", "other_ca") else v for k, v in given.items()
    }
    started = time.monotonic()
    done = await walletflow(
        cli_env(tmp_path, HOME=str(tmp_path), TEMPORAL_ADDRESS=address, **env),
        "list",
        timeout=60,
    )
    took = time.monotonic() - started
    assert done.code != 0
    assert done.err.splitlines() == [f"error: cannot reach Temporal at {address}: {expected}"]
    assert "Traceback" not in done.err + done.out
    assert took < FAILS_WITHIN, f"{cause}: took {took:.1f} s"


async def test_disabling_host_verification_is_refused_in_one_line(
    nginx: Terminator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = await walletflow(
        cli_env(
            tmp_path,
            HOME=str(tmp_path),
            TEMPORAL_ADDRESS=nginx.tls,
            TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(nginx.pki.ca),
            TEMPORAL_TLS_DISABLE_HOST_VERIFICATION="true",
        ),
        "list",
        timeout=60,
    )
    assert done.code != 0
    assert done.err.splitlines() == [
        "error: TLS host verification cannot be disabled: the Python SDK ignores "
        "disable_host_verification; set TEMPORAL_TLS_SERVER_NAME to the name the certificate "
        "carries instead"
    ]
    # the same in-process (a variable that only envconfig reads): refused before connecting
    monkeypatch.setenv("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "true")
    with pytest.raises(UserError, match="host verification cannot be disabled"):
        await connect(
            settings(TEMPORAL_ADDRESS=nginx.tls, TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(nginx.pki.ca))
        )
