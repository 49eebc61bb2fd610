"""The production deployment files: docker-compose.yml, its config files and scripts under
deploy/, the Dockerfile, .dockerignore and .env.example.

Docker has no engine here, so this checks them statically: Debian's docker-compose 1.29
validates and resolves the compose file offline (`docker-compose config`; `.ci/run` installs
it; where it is missing those tests skip, see tools.py), and the tests read the result for
images (official, pinned by digest), services, health checks, start order, replicas, each
container's environment and secrets (mTLS to Temporal, the payload codec, no secret value
anywhere but in deploy/secrets/), and the documentation of every variable. The scripts under
deploy/ run for real where they can without Docker: deploy/init-secrets.sh makes every secret
file (its certificates complete an mTLS handshake), deploy/walletflow/entrypoint.sh exports
what it should, deploy/pin-images rewrites digests (against a stand-in `docker`).

What no test here can check: that a digest is the registry's (deploy/pin-images does that on a
host with Docker), and that the containers start (that needs an engine).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from starter.devstack import DEVNET_BOT_TOKEN
from starter.runtime.codec import read_key_ring
from starter.runtime.settings import Settings
from tests.support.tools import system_tool, unavailable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PIN_IMAGES = ROOT / "deploy" / "pin-images"
ENTRYPOINT_SCRIPT = ROOT / "deploy" / "walletflow" / "entrypoint.sh"
INIT_SECRETS = ROOT / "deploy" / "init-secrets.sh"

# walletflow processes that are Temporal clients; the codec server is walletflow's image too.
WALLETFLOW_SERVICES = (
    "walletflow-setup",
    "worker-solana",
    "worker-tron",
    "worker-prices",
    "worker-notify",
    "bot",
)
LONG_RUNNING_WALLETFLOW = ("worker-solana", "worker-tron", "worker-prices", "worker-notify", "bot")
PRICE_KEYS = {"jupiter_api_key", "coingecko_api_key"}
CODEC_SERVER = "codec-server"
WALLETFLOW_IMAGE_SERVICES = (*WALLETFLOW_SERVICES, CODEC_SERVER)
EXPECTED_SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-namespace",
    "temporal-ui",
    CODEC_SERVER,
    *WALLETFLOW_SERVICES,
    "otel-collector",
    "jaeger",
    "prometheus",
}
EXPECTED_IMAGES = {
    "postgresql": "postgres",
    "temporal-schema": "temporalio/admin-tools",
    "temporal": "temporalio/server",
    "temporal-namespace": "temporalio/admin-tools",
    "temporal-ui": "temporalio/ui",
    "jaeger": "jaegertracing/all-in-one",
    "prometheus": "prom/prometheus",
    "grafana": "grafana/grafana",
}
# The compose entrypoint of every walletflow container (exports secrets, execs the command).
WALLETFLOW_ENTRYPOINT = ["/bin/sh", "/etc/walletflow/entrypoint.sh"]
# What each walletflow container mounts under /run/secrets/, and nothing more.
WALLETFLOW_CLIENT_SECRETS = {
    "temporal_ca.pem",
    "walletflow_client.pem",
    "walletflow_client.key",
    "walletflow_pgpass",
    "codec_keys",
}
MOUNTED_SECRETS = {
    "walletflow-setup": WALLETFLOW_CLIENT_SECRETS,
    "worker-solana": WALLETFLOW_CLIENT_SECRETS | {"walletflow_keystore"} | PRICE_KEYS,
    "worker-tron": WALLETFLOW_CLIENT_SECRETS | {"walletflow_keystore", "tron_api_key"} | PRICE_KEYS,
    "worker-prices": WALLETFLOW_CLIENT_SECRETS | PRICE_KEYS,
    "worker-notify": WALLETFLOW_CLIENT_SECRETS | {"telegram_bot_token"},
    "bot": WALLETFLOW_CLIENT_SECRETS
    | {"walletflow_bot_key", "telegram_bot_token", "tron_api_key"}
    | PRICE_KEYS,
    CODEC_SERVER: {"codec_keys", "codec_server_token"},
}
# Secrets walletflow takes only as variable values: deploy/walletflow/entrypoint.sh sets them.
EXPORTED_SECRETS = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "codec_server_token": "WALLETFLOW_CODEC_SERVER_TOKEN",
    "tron_api_key": "TRON_API_KEY",
    "jupiter_api_key": "JUPITER_API_KEY",
    "coingecko_api_key": "COINGECKO_API_KEY",
    "temporal_api_key": "TEMPORAL_API_KEY",
}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|PRIVATE|(^|_)(TOKEN|KEY)$")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
PINNED = re.compile(
    r"(?P<repo>[a-z0-9]+(?:[._/-][a-z0-9]+)*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    r"@sha256:(?P<digest>[0-9a-f]{64})"
)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}")
SECRETS_DIR = "/run/secrets/"


# ---- helpers ---------------------------------------------------------------------------------


def docker_compose() -> str:
    return system_tool(
        "docker-compose", "`apt-get install docker-compose` (Debian's 1.29; .ci/run installs it)"
    )


def documented(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """NAME -> value for every `NAME=value` line, commented out or not."""
    names: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            names.setdefault(m.group(1), m.group(2))
    return names


def env_example_values() -> dict[str, str]:
    """Only the lines that are set (not commented out): what a copied .env gives containers."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            values[m.group(1)] = m.group(2)
    return values


def project_copy(tmp: Path, env_text: str) -> Path:
    """What `docker-compose config` needs of the checkout, with `env_text` as .env."""
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy2(ROOT / name, tmp / name)
    shutil.copytree(ROOT / "deploy", tmp / "deploy", ignore=shutil.ignore_patterns("secrets"))
    (tmp / ".env").write_text(env_text)
    return tmp


def run_config(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only PATH and HOME: a variable set in the caller's shell must not fill in for .env.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project)}
    return subprocess.run(
        [docker_compose(), "-f", "docker-compose.yml", "config", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@cache
def raw() -> dict[str, Any]:
    """docker-compose.yml as written (YAML anchors and merge keys resolved, ${...} not)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The file as docker-compose 1.29 resolves it, with .env copied from .env.example as it
    ships: no variable needs a value, and no secret comes from .env."""
    project = project_copy(tmp_path_factory.mktemp("compose"), ENV_EXAMPLE.read_text())
    result = run_config(project)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    data = yaml.safe_load(result.stdout)
    assert isinstance(data, dict)
    return data


def services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svc = data["services"]
    assert isinstance(svc, dict)
    return svc


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}" if pending else stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def dockerfile_images(path: Path) -> list[str]:
    """The images a Dockerfile pulls: FROM lines with their ARG defaults substituted, minus
    its own build stages."""
    steps = dockerfile_instructions(path)
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG" and "=" in a)
    stages: set[str] = set()
    images = []
    for word, arg in steps:
        if word != "FROM":
            continue
        parts = [p for p in arg.split() if not p.startswith("--")]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
        if image.lower() not in stages:
            images.append(image)
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2].lower())
    return images


def tag_of(image: str) -> str:
    m = PINNED.fullmatch(image)
    assert m, f"{image} is not NAME:TAG@sha256:DIGEST"
    return m["tag"]


def secret_targets(svc: dict[str, Any]) -> dict[str, str]:
    """target (the name under /run/secrets/) -> source, of one service."""
    out = {}
    for entry in svc.get("secrets") or []:
        source = entry if isinstance(entry, str) else entry["source"]
        target = entry if isinstance(entry, str) else entry.get("target", source)
        out[str(target)] = str(source)
    return out


def mounted(svc: dict[str, Any], path: str) -> bool:
    """Whether `path` is a secret the service mounts (compose puts them in /run/secrets/)."""
    path = path.removeprefix("file:")
    return path.startswith(SECRETS_DIR) and path[len(SECRETS_DIR) :] in secret_targets(svc)


def condition(svc: dict[str, Any], dependency: str) -> str | None:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return "service_started" if dependency in deps else None
    entry = deps.get(dependency)
    return None if entry is None else str(entry.get("condition", "service_started"))


def walletflow_command(svc: dict[str, Any]) -> list[str]:
    """The command a walletflow container runs, after its secrets entrypoint."""
    assert svc["entrypoint"] == WALLETFLOW_ENTRYPOINT, svc["entrypoint"]
    return list(svc["command"])


def mounted_script(service: str, container_path: str) -> Path:
    """The file of the checkout that docker-compose.yml mounts at `container_path`."""
    for volume in map(str, raw()["services"][service].get("volumes") or []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == container_path:
            assert source.startswith("./"), volume
            return ROOT / source
    raise AssertionError(f"{service}: nothing mounted at {container_path}")


# ---- docker-compose config -------------------------------------------------------------------


def test_docker_compose_config_validates(resolved: dict[str, Any]) -> None:
    missing = EXPECTED_SERVICES - set(services(resolved))
    assert not missing, f"missing services: {sorted(missing)}"


def test_no_setting_is_required_and_no_secret_comes_from_env() -> None:
    # The `resolved` fixture validates with .env.example as shipped (every secret empty or
    # commented out): compose needs no variable, least of all a secret, from .env.
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"\$\{[A-Za-z0-9_]+:?\?", text), "no ${VAR:?} left: secrets are files"
    assert not [v for v in INTERPOLATION.findall(text) if SECRET_NAME.search(v)]


def test_images_are_the_official_ones_and_pinned_by_digest(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name, repository in EXPECTED_IMAGES.items():
        m = PINNED.fullmatch(svc[name]["image"])
        assert m, f"{name}: {svc[name]['image']} is not NAME:TAG@sha256:DIGEST"
        assert m["repo"] == repository, f"{name}: {svc[name]['image']}"
        assert m["tag"] != "latest", name
    # Every image pulled is pinned: the services' and the FROM images of what is built here.
    for name, service in svc.items():
        if "build" in service:
            continue  # built here: its FROM images are checked below
        assert PINNED.fullmatch(service["image"]), f"{name}: {service['image']} is not pinned"
        assert "auto-setup" not in service["image"], name
    for dockerfile in (ROOT / "Dockerfile", ROOT / "deploy" / "otel-collector" / "Dockerfile"):
        for image in dockerfile_images(dockerfile):
            assert PINNED.fullmatch(image), f"{dockerfile}: FROM {image} is not pinned"
    # Schema tools of the server's very version.
    server_tag = tag_of(svc["temporal"]["image"])
    for name in ("temporal-schema", "temporal-namespace"):
        tag = tag_of(svc[name]["image"])
        assert tag == server_tag or tag.startswith(server_tag + "-"), (name, tag, server_tag)
    # The collector is the official contrib image plus a static busybox for its health check.
    otel = svc["otel-collector"]
    final_image = dockerfile_images(ROOT / "deploy" / "otel-collector" / "Dockerfile")[-1]
    m = PINNED.fullmatch(final_image)
    assert m and m["repo"] == "otel/opentelemetry-collector-contrib", final_image
    assert re.fullmatch(r"\d+\.\d+\.\d+", m["tag"]), final_image
    assert otel["image"].endswith(":" + m["tag"]), "tag the build alike"
    for name in WALLETFLOW_IMAGE_SERVICES:
        assert svc[name]["build"]["dockerfile"] == "Dockerfile"
        assert svc[name]["image"] == svc["worker-solana"]["image"]


def test_temporal_uses_postgresql_persistence(resolved: dict[str, Any]) -> None:
    temporal = services(resolved)["temporal"]
    env = environment(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_USER"]
    # The password comes from a docker secret, read at start, never from the compose file.
    assert "POSTGRES_PWD" not in env
    entrypoint = " ".join(temporal["entrypoint"])
    assert "/run/secrets/temporal_db_password" in entrypoint
    assert "temporal_db_password" in secret_targets(temporal)
    # The server image's own entrypoint (renders config_template.yaml), no auto-setup.
    assert entrypoint.endswith("exec /etc/temporal/entrypoint.sh"), entrypoint
    assert "autosetup" not in entrypoint and "auto-setup" not in COMPOSE_FILE.read_text()
    ui = services(resolved)["temporal-ui"]
    assert environment(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "8080" in str(ui["ports"])


def test_schema_is_set_up_by_admin_tools_before_the_server_starts(
    resolved: dict[str, Any],
) -> None:
    svc = services(resolved)
    schema = svc["temporal-schema"]
    assert schema.get("restart") == "no"
    assert condition(schema, "postgresql") == "service_healthy"
    assert condition(svc["temporal"], "temporal-schema") == "service_completed_successfully"
    assert set(secret_targets(schema)) == {"temporal_db_password"}
    env = environment(schema)
    assert (env["SQL_PLUGIN"], env["SQL_HOST"], env["SQL_PORT"]) == (
        "postgres12",
        "postgresql",
        "5432",
    )
    assert env["SQL_USER"] == environment(svc["temporal"])["POSTGRES_USER"]
    assert not [k for k in env if "PASSWORD" in k], "SQL_PASSWORD is read from the secret"
    assert schema["entrypoint"][:1] == ["/bin/sh"]
    script = mounted_script("temporal-schema", schema["entrypoint"][1]).read_text()
    assert "/run/secrets/temporal_db_password" in script
    assert "setup-schema -v 0.0" in script and "update-schema -d" in script
    versioned = "/etc/temporal/schema/postgresql/v12"
    assert f"{versioned}/temporal/versioned" in script.replace("$schema", versioned)
    assert f"{versioned}/visibility/versioned" in script.replace("$schema", versioned)
    # Both databases, named as the server reads them.
    server = environment(svc["temporal"])
    assert env["TEMPORAL_DBNAME"] == server["DBNAME"]
    assert env["TEMPORAL_VISIBILITY_DBNAME"] == server["VISIBILITY_DBNAME"]


def test_namespace_is_registered_once_the_server_is_healthy(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    job = svc["temporal-namespace"]
    assert job.get("restart") == "no"
    assert condition(job, "temporal") == "service_healthy"
    assert condition(svc["walletflow-setup"], "temporal-namespace") == (
        "service_completed_successfully"
    )
    env = environment(job)
    assert env["WALLETFLOW_NAMESPACE"] == "default"
    assert re.fullmatch(r"\d+h", env["WALLETFLOW_NAMESPACE_RETENTION"])
    script = mounted_script("temporal-namespace", job["entrypoint"][1]).read_text()
    assert "operator namespace describe" in script and "operator namespace create" in script
    for flag in ("--tls-ca-path", "--tls-cert-path", "--tls-key-path", "--tls-server-name"):
        assert flag in script, flag
    for path in re.findall(r"/run/secrets/[\w.]+", script):
        assert mounted(job, path), path


def test_temporal_requires_mutual_tls(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    temporal = svc["temporal"]
    env = environment(temporal)
    assert env["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    for name in (
        "TEMPORAL_TLS_SERVER_CA_CERT",  # internode
        "TEMPORAL_TLS_SERVER_CERT",
        "TEMPORAL_TLS_SERVER_KEY",
        "TEMPORAL_TLS_FRONTEND_CERT",  # what clients connect to
        "TEMPORAL_TLS_FRONTEND_KEY",
        "TEMPORAL_TLS_CLIENT1_CA_CERT",  # whom the frontend accepts
        "TEMPORAL_TLS_CLIENT2_CA_CERT",
    ):
        assert mounted(temporal, env[name]), f"{name}={env[name]} is not a mounted secret"
    assert env["TEMPORAL_TLS_CLIENT1_CA_CERT"] == env["TEMPORAL_TLS_SERVER_CA_CERT"]
    assert env["TEMPORAL_TLS_FRONTEND_SERVER_NAME"] == "temporal"
    assert env["TEMPORAL_TLS_INTERNODE_SERVER_NAME"] == "temporal"
    assert env["TEMPORAL_TLS_FRONTEND_DISABLE_HOST_VERIFICATION"] == "false"
    assert env["TEMPORAL_TLS_INTERNODE_DISABLE_HOST_VERIFICATION"] == "false"
    # The health check speaks mTLS too (a plaintext probe would never see SERVING).
    check = " ".join(temporal["healthcheck"]["test"])
    assert "temporal operator cluster health" in check and "SERVING" in check
    for flag in ("--tls-ca-path", "--tls-cert-path", "--tls-key-path", "--tls-server-name"):
        value = check.split(flag, 1)[1].split()[0]
        assert flag.endswith("server-name") or mounted(temporal, value), (flag, value)
    # The Web UI: its own client certificate, host verification on.
    ui = svc["temporal-ui"]
    ui_env = environment(ui)
    for name in ("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"):
        assert mounted(ui, ui_env[name]), name
    assert ui_env["TEMPORAL_TLS_SERVER_NAME"] == "temporal"
    assert ui_env["TEMPORAL_TLS_ENABLE_HOST_VERIFICATION"] == "true"
    # Each client has its own key: the server's key stays in the server.
    keys = {name: {t for t in secret_targets(s) if t.endswith(".key")} for name, s in svc.items()}
    assert keys["temporal"] == {"temporal_server.key"}
    assert not [n for n, k in keys.items() if "temporal_server.key" in k and n != "temporal"]


def test_every_walletflow_client_has_mtls_and_the_codec(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name in WALLETFLOW_SERVICES:
        env = environment(svc[name])
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233", name
        assert env["TEMPORAL_TLS"] == "true", name
        assert env["TEMPORAL_TLS_SERVER_NAME"] == "temporal", name
        for var in (
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            "TEMPORAL_TLS_CLIENT_KEY_PATH",
        ):
            assert mounted(svc[name], env[var]), (name, var, env[var])
        assert env.get("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "") in ("", "false"), name
    # Payload encryption is on in every walletflow container, the codec server included.
    for name in WALLETFLOW_IMAGE_SERVICES:
        env = environment(svc[name])
        assert env["WALLETFLOW_CODEC_KEYS"] == "file:/run/secrets/codec_keys", name
        assert mounted(svc[name], env["WALLETFLOW_CODEC_KEYS"]), name


def test_codec_server(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    codec = svc[CODEC_SERVER]
    command = walletflow_command(codec)
    assert command[:2] == ["walletflow", "codec-server"]
    host = command[command.index("--host") + 1]
    port = command[command.index("--port") + 1]
    assert host == "0.0.0.0"  # inside its container; published on loopback below
    assert f"127.0.0.1:{port}/healthz" in " ".join(codec["healthcheck"]["test"])
    assert [str(p) for p in codec["ports"]] == [f"127.0.0.1:{port}:{port}/tcp"]
    # Its token comes from a secret file (the entrypoint exports it), never from .env.
    assert "codec_server_token" in secret_targets(codec)
    assert "WALLETFLOW_CODEC_SERVER_TOKEN" not in environment(codec)
    # It needs no Temporal, no database: none of their credentials.
    assert not condition(codec, "temporal") and not condition(codec, "postgresql")
    # The UI decodes through it, with the session cookie of its /login; origins agree.
    ui = environment(svc["temporal-ui"])
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{port}"
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    origin = environment(codec)["WALLETFLOW_CODEC_UI_ORIGIN"]
    assert origin == ui["TEMPORAL_CORS_ORIGINS"] == "http://localhost:8080"
    assert origin.rsplit(":", 1)[1] in str(svc["temporal-ui"]["ports"])


def test_every_long_running_service_has_a_health_check(resolved: dict[str, Any]) -> None:
    for name, svc in services(resolved).items():
        if svc.get("restart") == "no":
            continue  # one-shot
        check = svc.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        test = check["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"


def test_walletflow_health_checks_probe_readyz(resolved: dict[str, Any]) -> None:
    for name in LONG_RUNNING_WALLETFLOW:
        test = " ".join(services(resolved)[name]["healthcheck"]["test"])
        assert "127.0.0.1:8000/readyz" in test, name


def test_start_order_follows_health(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    assert condition(svc["temporal-schema"], "postgresql") == "service_healthy"
    assert condition(svc["temporal"], "postgresql") == "service_healthy"
    assert condition(svc["temporal"], "temporal-schema") == "service_completed_successfully"
    assert condition(svc["temporal-namespace"], "temporal") == "service_healthy"
    assert condition(svc["temporal-ui"], "temporal") == "service_healthy"
    setup = svc["walletflow-setup"]
    assert condition(setup, "temporal") == "service_healthy"
    assert condition(setup, "postgresql") == "service_healthy"
    assert condition(setup, "temporal-namespace") == "service_completed_successfully"
    assert setup.get("restart") == "no"
    for name in LONG_RUNNING_WALLETFLOW:
        assert condition(svc[name], "temporal") == "service_healthy", name
        assert condition(svc[name], "postgresql") == "service_healthy", name
        assert condition(svc[name], "walletflow-setup") == "service_completed_successfully", name
        # Telemetry never holds back monitoring or withdrawals.
        for telemetry in ("otel-collector", "jaeger", "prometheus", "grafana"):
            assert condition(svc[name], telemetry) in (None, "service_started"), (name, telemetry)


def test_chain_workers_are_replicated_and_the_bot_is_not(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name in ("worker-solana", "worker-tron"):
        assert int(svc[name]["deploy"]["replicas"]) > 1, name
        assert "container_name" not in svc[name], "a fixed container name prevents replicas"
        assert not svc[name].get("ports"), "published ports collide between replicas"
    # One getUpdates poller per bot token.
    assert int(svc["bot"].get("deploy", {}).get("replicas", 1)) == 1


def test_each_worker_serves_its_own_queue(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name, queue in (
        ("worker-solana", "solana"),
        ("worker-tron", "tron"),
        ("worker-prices", "prices"),
        ("worker-notify", "notify"),
    ):
        command = walletflow_command(svc[name])
        assert command[:3] == ["python", "-m", "worker_main"], name
        assert command[command.index("--queues") + 1] == queue, name
    assert walletflow_command(svc["bot"]) == ["python", "-m", "starter.bot"]
    assert walletflow_command(svc["walletflow-setup"]) == ["walletflow", "setup"]
    # The entrypoint is the checkout's script, mounted read-only.
    for name in WALLETFLOW_IMAGE_SERVICES:
        assert mounted_script(name, WALLETFLOW_ENTRYPOINT[1]) == ENTRYPOINT_SCRIPT
        assert any(
            str(v).endswith(f":{WALLETFLOW_ENTRYPOINT[1]}:ro") for v in svc[name]["volumes"]
        ), name


def test_walletflow_environment(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name in WALLETFLOW_IMAGE_SERVICES:
        assert raw()["services"][name]["env_file"] in (".env", [".env"]), name
    for name in WALLETFLOW_SERVICES:
        env = environment(svc[name])
        # No password in the DSN: libpq's passfile, a mounted secret, holds it.
        m = re.fullmatch(
            r"postgresql://walletflow@postgresql:5432/walletflow\?passfile=(\S+)",
            env["DATABASE_URL"],
        )
        assert m and mounted(svc[name], m.group(1)), (name, env["DATABASE_URL"])
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317", name
        assert env["OTEL_SERVICE_NAME"].startswith("walletflow"), name
    for name in LONG_RUNNING_WALLETFLOW:
        env = environment(svc[name])
        assert env["WALLETFLOW_HEALTH_PORT"] == "8000" and env["WALLETFLOW_METRICS_PORT"] == "9464"
    assert environment(svc["worker-solana"])["SOLANA_RPC_URL"].startswith("http")
    assert environment(svc["worker-tron"])["TRON_API_URL"].startswith("http")
    # The bot token: a secret of the two services that talk to Telegram, in no environment.
    for name in WALLETFLOW_IMAGE_SERVICES:
        assert not environment(svc[name]).get("TELEGRAM_BOT_TOKEN"), name
        talks_to_telegram = name in ("worker-notify", "bot")
        assert ("telegram_bot_token" in secret_targets(svc[name])) == talks_to_telegram, name
    # Every Settings field parses from what a container gets (catches e.g. an empty number).
    for name in WALLETFLOW_IMAGE_SERVICES:
        Settings.model_validate(environment(svc[name]))


def test_walletflow_containers_have_no_privileges(resolved: dict[str, Any]) -> None:
    for name in WALLETFLOW_IMAGE_SERVICES:
        svc = services(resolved)[name]
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert "user" not in svc, "the image's own non-root user (10001)"


def test_each_service_mounts_only_the_secrets_it_uses(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name, expected in MOUNTED_SECRETS.items():
        assert set(secret_targets(svc[name])) == expected, name
    for chain in ("solana", "tron"):
        worker = svc[f"worker-{chain}"]
        assert secret_targets(worker)["walletflow_keystore"] == f"keystore_{chain}"
        assert environment(worker)["WALLETFLOW_KEYSTORE"] == "file:/run/secrets/walletflow_keystore"
    for name in ("worker-notify", "bot", "walletflow-setup", CODEC_SERVER):
        assert "WALLETFLOW_KEYSTORE" not in environment(svc[name]), name
    # Every secret is a file under deploy/secrets/ (which git ignores: the next test).
    for name, spec in raw()["secrets"].items():
        assert str(spec["file"]).startswith("./deploy/secrets/"), name
    # ... and every one of them is used somewhere.
    used = {source for s in svc.values() for source in secret_targets(s).values()}
    assert used == set(raw()["secrets"]), sorted(set(raw()["secrets"]) ^ used)


def test_secret_files_are_git_ignored() -> None:
    git = system_tool("git", "`apt-get install git`")
    if not (ROOT / ".git").exists():
        unavailable(f"{ROOT} is not a git checkout")
    for spec in raw()["secrets"].values():
        path = str(spec["file"])
        ignored = subprocess.run(
            [git, "check-ignore", "-q", path], cwd=ROOT, capture_output=True, check=False
        )
        assert ignored.returncode == 0, f"{path} is not git-ignored"


def walk_environments(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for name, svc in data["services"].items():
        for key, value in environment(svc).items():
            out.append((name, key, value))
    return out


def test_no_secret_value_in_the_compose_file() -> None:
    for service, key, value in walk_environments(raw()):
        if SECRET_NAME.search(key) or key.endswith("_FILE") or key == "WALLETFLOW_KEYSTORE":
            # A secret-named variable may only point at a mounted secret file.
            assert value.removeprefix("file:").startswith(SECRETS_DIR), (
                f"{service}.{key} must name a file under /run/secrets/ (a docker secret), "
                "not hold a value"
            )
        if "://" in value and "@" in value:  # a DSN: no password in it
            creds = value.split("://", 1)[1].rsplit("@", 1)[0]
            assert ":" not in creds, f"{service}.{key}: the password belongs in a passfile"
    text = COMPOSE_FILE.read_text()
    assert DEVNET_BOT_TOKEN not in text
    assert not re.search(r"\b\d{8,10}:[A-Za-z0-9_-]{30,}\b", text), "a Telegram bot token"
    without_digests = DIGEST.sub("@sha256:DIGEST", text)
    assert not re.search(r"\b[0-9a-fA-F]{48,}\b", without_digests), "a hex key"
    assert not re.search(r"\b[1-9A-HJ-NP-Za-km-z]{80,90}\b", text), "a base58 keypair"
    assert not re.search(r"[A-Za-z0-9+/]{43}=", text), "a base64 key"
    assert "PRIVATE KEY" not in text


def test_no_secret_value_reaches_a_container_environment(resolved: dict[str, Any]) -> None:
    # What compose hands each container (its environment: plus .env as .env.example makes it).
    for service, key, value in walk_environments(resolved):
        if SECRET_NAME.search(key):
            assert not value or value.removeprefix("file:").startswith(SECRETS_DIR), (
                service,
                key,
            )


def test_env_example_holds_no_secret() -> None:
    for key, value in documented().items():
        if SECRET_NAME.search(key) and not key.endswith("_FILE"):
            assert value == "", f".env.example must leave {key} empty"
    # The secrets the entrypoint exports are not even listed as set lines.
    assert not set(EXPORTED_SECRETS.values()) & set(env_example_values())
    assert "WALLETFLOW_DB_PASSWORD" not in env_example_values()


# ---- documentation of every variable ---------------------------------------------------------


def test_every_variable_compose_uses_is_documented_in_env_example() -> None:
    names = documented()
    text = COMPOSE_FILE.read_text()
    used = set(INTERPOLATION.findall(text))
    for name in WALLETFLOW_IMAGE_SERVICES:
        used |= set(environment(raw()["services"][name]))
    missing = sorted(used - set(names))
    assert not missing, f"add to .env.example: {missing}"


def test_every_setting_is_documented_in_env_example() -> None:
    names = documented()
    aliases = {field.alias or name.upper() for name, field in Settings.model_fields.items()}
    missing = sorted(aliases - set(names))
    assert not missing, f"add to .env.example (starter/runtime/settings.py has them): {missing}"


def test_key_store_variables_are_documented() -> None:
    import chains

    keys = {spec.ENV.key for spec in chains.REGISTRY.values()}
    missing = sorted(keys - set(documented()))
    assert not missing, f"add to .env.example: {missing}"
    assert "WALLETFLOW_KEYSTORE" in documented()


def test_env_example_values_parse_as_settings() -> None:
    settings = Settings.model_validate(env_example_values())
    settings.tokens("solana")  # listed tokens are well-formed (checksummed addresses)
    settings.tokens("tron")
    assert settings.rpc_urls("solana") and settings.rpc_urls("tron")


# ---- telemetry config files ------------------------------------------------------------------


def load(path: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / path).read_text())
    assert isinstance(data, dict)
    return data


def test_otel_collector_pipelines(resolved: dict[str, Any]) -> None:
    cfg = load("deploy/otel-collector.yaml")
    assert cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert cfg["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    prom_port = cfg["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    pipelines = cfg["service"]["pipelines"]
    assert pipelines["traces"]["receivers"] == ["otlp"]
    assert "otlp/jaeger" in pipelines["traces"]["exporters"]
    assert "prometheus" in pipelines["metrics"]["exporters"]
    for pipeline in pipelines.values():
        for processor in pipeline.get("processors", []):
            assert processor in cfg["processors"]
    health_port = cfg["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    assert "health_check" in cfg["service"]["extensions"]
    otel = services(resolved)["otel-collector"]
    assert f":{health_port}/" in " ".join(otel["healthcheck"]["test"])
    assert any(
        v.endswith(":/etc/otelcol-contrib/config.yaml:ro") and "otel-collector.yaml" in v
        for v in map(str, otel["volumes"])
    )
    jaeger = environment(services(resolved)["jaeger"])
    assert jaeger["COLLECTOR_OTLP_ENABLED"] == "true"
    prometheus = load("deploy/prometheus.yml")
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for c in job.get("static_configs", [])
        for t in c["targets"]
    }
    assert f"otel-collector:{prom_port}" in targets


def test_prometheus_scrapes_every_walletflow_process(resolved: dict[str, Any]) -> None:
    cfg = load("deploy/prometheus.yml")
    jobs = {job["job_name"]: job for job in cfg["scrape_configs"]}
    dns = jobs["walletflow"]["dns_sd_configs"]
    scraped = {(name, sd["port"]) for sd in dns for name in sd["names"]}
    for name in LONG_RUNNING_WALLETFLOW:
        assert (name, 9464) in scraped, name
    temporal_env = environment(services(resolved)["temporal"])
    port = temporal_env["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [f"temporal:{port}"]
    mounted = " ".join(map(str, services(resolved)["prometheus"]["volumes"]))
    assert "deploy/prometheus.yml:/etc/prometheus/prometheus.yml" in mounted


def test_grafana_data_sources_point_at_the_services() -> None:
    cfg = load("deploy/grafana/provisioning/datasources/datasources.yaml")
    urls = {ds["type"]: ds["url"] for ds in cfg["datasources"]}
    assert urls == {"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}


# ---- Dockerfile and .dockerignore ------------------------------------------------------------


def test_dockerfile_runs_as_non_root_and_installs_the_package() -> None:
    steps = dockerfile_instructions(ROOT / "Dockerfile")
    froms = [args for word, args in steps if word == "FROM"]
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in steps if w == "ARG" and "=" in a}
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), froms[0])
    assert base.split()[0].startswith("python:3.11-slim"), base
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [a for w, a in final if w == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    runs = " ".join(a for w, a in steps if w == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "pip install . (the package)"
    entrypoint = next(a for w, a in final if w == "ENTRYPOINT")
    assert entrypoint == '["walletflow"]'


def test_dockerfile_copies_no_secret() -> None:
    steps = dockerfile_instructions(ROOT / "Dockerfile")
    for word, arg in steps:
        if word in ("COPY", "ADD"):
            sources = [s for s in shlex.split(arg)[:-1] if not s.startswith("--")]
            for src in sources:
                assert src not in (".", "./", "*"), "COPY the listed paths, not the whole context"
                assert not re.search(r"(^|/)\.env|secrets|keystore|\.pem$|\.key$|id_rsa", src), src
        if word in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arg):
                assert not SECRET_NAME.search(name.upper()), f"{word} {name} would bake a secret in"
        # docker-compose 1.29 builds with the classic builder: no BuildKit-only syntax.
        assert "--mount=" not in arg and "--chmod=" not in arg and "<<" not in arg


def test_dockerignore_lets_in_exactly_what_the_build_needs() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore must be an allowlist"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = project["tool"]["setuptools"]
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {f"{m}.py" for m in tool.get("py-modules", [])}
    needed |= {p.rstrip("*") for p in tool["packages"]["find"]["include"] if p.endswith("*")}
    assert needed <= allowed, f"add to .dockerignore: {sorted(needed - allowed)}"
    # Each COPY from the context is let in (else the build fails on a missing file).
    for word, arg in dockerfile_instructions(ROOT / "Dockerfile"):
        if word == "COPY" and "--from=" not in arg:
            for src in shlex.split(arg)[:-1]:
                assert src.rstrip("/") in allowed, f"{src} is excluded by .dockerignore"
    for secret in (".env", "deploy/secrets", "deploy"):
        assert secret not in allowed


def test_shell_scripts_parse() -> None:
    sh = system_tool("sh", "a POSIX shell (package dash)")
    for script in sorted((ROOT / "deploy").rglob("*.sh")):
        result = subprocess.run([sh, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script} must be executable"


# ---- deploy/pin-images -----------------------------------------------------------------------


def python_only_path(tmp: Path) -> str:
    """A PATH with python3 (the script's interpreter) and the POSIX basics, and no docker."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").symlink_to(sys.executable)
    return str(bin_dir)


def pin_images(*args: str, path: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PIN_IMAGES), *args],
        cwd=cwd,
        env={"PATH": path, "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def pinned_references() -> set[str]:
    refs = set()
    for path in (
        COMPOSE_FILE,
        ROOT / "Dockerfile",
        ROOT / "deploy" / "otel-collector" / "Dockerfile",
    ):
        refs |= {m.group(0) for m in PINNED.finditer(path.read_text())}
    return refs


def test_pin_images_is_an_executable_with_help(tmp_path: Path) -> None:
    assert os.access(PIN_IMAGES, os.X_OK), "deploy/pin-images must be executable"
    first = PIN_IMAGES.read_text().splitlines()[0]
    assert first == "#!/usr/bin/env python3", first
    result = pin_images("--help", path=python_only_path(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: deploy/pin-images")
    for word in ("--check", "--offline", "placeholder", "docker"):
        assert word in result.stdout, word


def test_pin_images_check_offline_lists_every_pin(tmp_path: Path) -> None:
    result = pin_images("--check", "--offline", path=python_only_path(tmp_path))
    assert "Traceback" not in result.stderr, result.stderr
    listed = result.stdout
    for ref in pinned_references():
        m = PINNED.fullmatch(ref)
        assert m and f"{m['repo']}:{m['tag']}" in listed, ref
    assert "UNPINNED" not in listed
    placeholders = [r for r in pinned_references() if r.endswith("@sha256:" + "0" * 64)]
    assert result.returncode == (1 if placeholders else 0), listed
    assert listed.count("PLACEHOLDER") == sum(
        len(re.findall(re.escape(r), p.read_text()))
        for r in placeholders
        for p in (COMPOSE_FILE, ROOT / "Dockerfile", ROOT / "deploy/otel-collector/Dockerfile")
    )


def test_pin_images_without_docker_says_so(tmp_path: Path) -> None:
    result = pin_images("--check", path=python_only_path(tmp_path))
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert "docker is not installed" in result.stderr and "--offline" in result.stderr


FAKE_DOCKER = """#!{python}
# A stand-in for `docker buildx imagetools inspect --format '{{{{json .Manifest}}}}' REF`: the
# digest of each REF is sha256(REF), so the test knows what must be written.
import hashlib, json, sys
args = sys.argv[1:]
assert args[:3] == ["buildx", "imagetools", "inspect"], args
ref = args[-1]
print(json.dumps({{"mediaType": "application/vnd.oci.image.index.v1+json",
                  "digest": "sha256:" + hashlib.sha256(ref.encode()).hexdigest()}}))
"""


def test_pin_images_writes_the_registry_digests_in_place(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    project_copy(project, ENV_EXAMPLE.read_text())
    bin_dir = Path(python_only_path(tmp_path))
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(0o755)
    files = ["docker-compose.yml", "Dockerfile", "deploy/otel-collector/Dockerfile"]
    before = {name: (project / name).read_text() for name in files}

    result = pin_images("--root", str(project), path=str(bin_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in files:
        text = (project / name).read_text()
        refs = list(PINNED.finditer(text))
        assert refs, name
        for m in refs:
            want = hashlib.sha256(f"{m['repo']}:{m['tag']}".encode()).hexdigest()
            assert m["digest"] == want, (name, m.group(0))
        # Nothing but digests changed.
        assert DIGEST.sub("@D", text) == DIGEST.sub("@D", before[name]), name
    assert os.access(project / "Dockerfile", os.R_OK)

    check = pin_images("--check", "--root", str(project), path=str(bin_dir), cwd=tmp_path)
    assert check.returncode == 0, check.stdout
    offline = pin_images("--check", "--offline", "--root", str(project), path=str(bin_dir))
    assert offline.returncode == 0 and "PLACEHOLDER" not in offline.stdout, offline.stdout
    # A digest that moved on the registry is reported, not silently kept.
    text = (project / "Dockerfile").read_text()
    first = PINNED.search(text)
    assert first
    stale = text.replace(first["digest"], "f" * 64)
    (project / "Dockerfile").write_text(stale)
    check = pin_images("--check", "--root", str(project), path=str(bin_dir), cwd=tmp_path)
    assert check.returncode == 1 and "STALE" in check.stdout, check.stdout
    assert (project / "Dockerfile").read_text() == stale, "--check changes nothing"


# ---- deploy/walletflow/entrypoint.sh ---------------------------------------------------------


def run_entrypoint(
    secrets: Path, env: dict[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    sh = system_tool("sh", "a POSIX shell (package dash)")
    return subprocess.run(
        [sh, str(ENTRYPOINT_SCRIPT), *command],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "WALLETFLOW_SECRETS_DIR": str(secrets),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )


def exported(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_entrypoint_exports_the_mounted_secrets_and_drops_the_rest(tmp_path: Path) -> None:
    (tmp_path / "telegram_bot_token").write_text("123:token-from-file\n")
    (tmp_path / "codec_server_token").write_text("codec-token")
    (tmp_path / "tron_api_key").write_text("")  # optional, empty: no key
    stale = {  # what an old .env (every container's env_file) might still set
        "TELEGRAM_BOT_TOKEN": "stale",
        "TRON_API_KEY": "stale",
        "TEMPORAL_API_KEY": "stale",
        "WALLETFLOW_DB_PASSWORD": "stale",
        "KEEP": "kept",
    }
    result = run_entrypoint(tmp_path, stale, "env")
    assert result.returncode == 0, result.stderr
    env = exported(result)
    assert env["TELEGRAM_BOT_TOKEN"] == "123:token-from-file"
    assert env["WALLETFLOW_CODEC_SERVER_TOKEN"] == "codec-token"
    for gone in ("TRON_API_KEY", "TEMPORAL_API_KEY", "WALLETFLOW_DB_PASSWORD"):
        assert gone not in env, gone
    assert env["KEEP"] == "kept"
    # A service that mounts none of them gets none of them.
    empty = tmp_path / "none"
    empty.mkdir()
    env = exported(run_entrypoint(empty, stale, "env"))
    assert not set(EXPORTED_SECRETS.values()) & set(env)
    # Every secret the script knows is one compose can mount (or the documented API key).
    script = ENTRYPOINT_SCRIPT.read_text()
    for name, variable in EXPORTED_SECRETS.items():
        assert f"from_secret {name} {variable} " in script, name


def test_entrypoint_refuses_an_empty_required_secret(tmp_path: Path) -> None:
    (tmp_path / "telegram_bot_token").write_text("")
    result = run_entrypoint(tmp_path, {}, "env")
    assert result.returncode == 78
    assert "telegram_bot_token is empty" in result.stderr
    assert result.stdout == "", "the command never ran"
    (tmp_path / "telegram_bot_token").write_text("a\nb\n")
    assert run_entrypoint(tmp_path, {}, "env").returncode == 78
    assert run_entrypoint(tmp_path / "absent", {}).returncode == 78  # no command


# ---- deploy/init-secrets.sh ------------------------------------------------------------------


@pytest.fixture(scope="module")
def made_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout copy after deploy/init-secrets.sh, with an old .env to migrate from."""
    sh = system_tool("sh", "a POSIX shell (package dash)")
    system_tool("openssl", "`apt-get install openssl`")
    project = tmp_path_factory.mktemp("init-secrets")
    (project / "deploy").mkdir()
    shutil.copy2(INIT_SECRETS, project / "deploy" / "init-secrets.sh")
    shutil.copy2(ENV_EXAMPLE, project / ".env.example")
    (project / ".env").write_text('WALLETFLOW_DB_PASSWORD=0ld5ecret\nTELEGRAM_BOT_TOKEN="1:tok"\n')
    result = subprocess.run(
        [sh, str(project / "deploy" / "init-secrets.sh")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "delete WALLETFLOW_DB_PASSWORD from .env" in result.stdout
    return project


def test_init_secrets_makes_every_secret_compose_mounts(made_secrets: Path) -> None:
    for name, spec in raw()["secrets"].items():
        path = made_secrets / str(spec["file"])
        assert path.is_file(), f"deploy/init-secrets.sh does not make {spec['file']} ({name})"
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode in (0o600, 0o444), (name, oct(mode))
        if mode == 0o444:  # world-readable only: passwords and certificates, never a key
            assert name.endswith(("password", "_cert")) or name == "temporal_ca", name
    secrets = made_secrets / "deploy" / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert stat.S_IMODE((secrets / "tls").stat().st_mode) == 0o700
    # The old .env's values moved into their files.
    assert (secrets / "walletflow_db_password").read_text() == "0ld5ecret"
    assert (secrets / "walletflow_pgpass").read_text() == "*:*:walletflow:walletflow:0ld5ecret\n"
    assert (secrets / "telegram_bot_token").read_text() == "1:tok"
    # The codec key ring is what walletflow reads (owner-only, one 32-byte key).
    ring = read_key_ring(f"file:{secrets / 'codec_keys'}")
    assert len(ring.keys) == 1 and re.fullmatch(r"k\d{8}", ring.active)
    assert len((secrets / "codec_server_token").read_text()) >= 32
    # Owned by the container user that reads each (when run as root, as documented).
    if os.geteuid() == 0:
        owners = {
            "tls/walletflow.key": 10001,
            "codec_keys": 10001,
            "walletflow_pgpass": 10001,
            "telegram_bot_token": 10001,
            "tls/temporal.key": 1000,
            "tls/temporal-admin.key": 1000,
            "tls/temporal-ui.key": 5000,
        }
        for name, uid in owners.items():
            assert (secrets / name).stat().st_uid == uid, name


def test_init_secrets_never_overwrites(made_secrets: Path) -> None:
    files = sorted(p for p in (made_secrets / "deploy" / "secrets").rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    result = subprocess.run(
        ["sh", str(made_secrets / "deploy" / "init-secrets.sh")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "created" not in result.stdout
    assert {p: p.read_bytes() for p in files} == before


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str) -> None:
    """One mTLS handshake over a socket pair; raises what either side refused."""
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            with server.wrap_socket(a, server_side=True) as s:
                s.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(b, server_hostname=name) as s:
            assert s.recv(2) == b"ok"
    finally:
        thread.join(10)
    if failure:
        raise failure[0]


def test_certificates_make_mutual_tls_with_the_name_temporal(made_secrets: Path) -> None:
    tls = made_secrets / "deploy" / "secrets" / "tls"

    def server_context(cert: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls / f"{cert}.pem", tls / f"{cert}.key")
        ctx.load_verify_locations(tls / "ca.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED  # the frontend's requireClientAuth
        return ctx

    def client_context(cert: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
        ctx.load_verify_locations(tls / "ca.pem")
        ctx.load_cert_chain(tls / f"{cert}.pem", tls / f"{cert}.key")
        return ctx

    # Each client (and the server itself, internode) against the frontend, as `temporal`.
    for client in ("walletflow", "temporal-ui", "temporal-admin", "temporal"):
        handshake(server_context("temporal"), client_context(client), "temporal")
    # Any other name fails: TEMPORAL_TLS_SERVER_NAME=temporal is what makes it verify.
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server_context("temporal"), client_context("walletflow"), "postgresql")
    # A client certificate cannot pose as the server: it is for clientAuth only (checked
    # with host-name verification off, so that the purpose alone decides).
    lax = client_context("temporal-ui")
    lax.check_hostname = False
    with pytest.raises(ssl.SSLCertVerificationError, match="purpose"):
        handshake(server_context("walletflow"), lax, "temporal")
    # Without a client certificate the server refuses.
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(tls / "ca.pem")
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(server_context("temporal"), anonymous, "temporal")
