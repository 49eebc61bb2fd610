"""A real TLS endpoint in front of a Temporal dev server (`temporal server start-dev` has no TLS
flags): nginx terminates TLS and passes gRPC on in plaintext. Three doors, one per way in:

- `tls`: TLS only, the server certificate signed by a private CA;
- `mtls`: TLS that requires a client certificate signed by that CA;
- `api_key`: TLS that answers HTTP 401 (gRPC UNAUTHENTICATED) without `Bearer <key>`.

The certificates are made here (`cryptography`), with a second, unrelated CA for the
wrong-CA case. nginx runs unprivileged (`-p`, `-e`, every path in a tmp dir, one process);
where it is missing the test skips (or fails, with WALLETFLOW_REQUIRE_TOOLS=1)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from starter.devstack import free_port
from tests.support.tools import system_tool

INSTALL = "apt-get install nginx-light"
# Temporal holds a long poll up to ~60 s (the SDK waits 70 s): nginx's default 60 s read
# timeout would cut some of them (504).
GRPC_TIMEOUT = "300s"


@dataclass(frozen=True)
class Pki:
    ca: Path  # the private CA that signed the server's and the client's certificates
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # an unrelated CA: trusting only it must fail


@dataclass(frozen=True)
class Terminator:
    """The three doors (host:port each) in front of one dev server, and nginx's logs."""

    tls: str
    mtls: str
    api_key: str
    key: str  # the API key the `api_key` door accepts
    pki: Pki
    access_log: Path
    error_log: Path

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


# ---- certificates -------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    cert = (
        _builder(common_name, _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    common_name: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    names: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    builder = (
        _builder(common_name, ca.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def make_pki(directory: Path) -> Pki:
    """A private CA, a server certificate for localhost and 127.0.0.1, a client certificate
    (both signed by the CA), and an unrelated CA: PEM files in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("walletflow test CA")
    other, _ = _ca("walletflow unrelated CA")
    server, server_key = _leaf(
        "localhost",
        ca,
        ca_key,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client, client_key = _leaf(
        "walletflow-test-client", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH
    )
    return Pki(
        ca=_write(directory / "ca.pem", ca),
        server_cert=_write(directory / "server.pem", server),
        server_key=_write_key(directory / "server.key", server_key),
        client_cert=_write(directory / "client.pem", client),
        client_key=_write_key(directory / "client.key", client_key),
        other_ca=_write(directory / "other-ca.pem", other),
    )


# ---- nginx --------------------------------------------------------------------------------


def nginx_binary() -> str:
    """nginx on PATH, or in the sbin folders a non-root PATH lacks; else skip (or fail)."""
    found = shutil.which("nginx")
    if found is not None:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"):
        candidate = Path(folder) / "nginx"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return system_tool("nginx", INSTALL)


def nginx_version(binary: str) -> tuple[int, ...]:
    text = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", text)
    if found is None:
        raise RuntimeError(f"cannot read the version of {binary}: {text.strip()!r}")
    return tuple(int(part) for part in found.groups())


def _temp_paths(binary: str, root: Path) -> str:
    """Every temp path nginx would otherwise create under /var/lib/nginx (root's)."""
    built = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10).stderr
    lines = [f"client_body_temp_path {root / 'body'};"]
    for module in ("proxy", "fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{module}_module" not in built:
            lines.append(f"{module}_temp_path {root / module};")
    return "\n    ".join(lines)


def nginx_config(
    binary: str, root: Path, upstream: str, pki: Pki, ports: dict[str, int], key: str
) -> str:
    # `http2 on;` replaced `listen ... http2` in nginx 1.25.1 (the old form warns there).
    new_http2 = nginx_version(binary) >= (1, 25, 1)

    def listen(port: int) -> str:
        if new_http2:
            return f"listen 127.0.0.1:{port} ssl;\n        http2 on;"
        return f"listen 127.0.0.1:{port} ssl http2;"

    def server(port: int, extra: str = "", location: str = "") -> str:
        return f"""
    server {{
        {listen(port)}
        server_name localhost;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};
        {extra}
        location / {{
            {location}
            grpc_pass grpc://{upstream};
        }}
    }}"""

    mtls = f"ssl_client_certificate {pki.ca};\n        ssl_verify_client on;"
    # HTTP 401: the client sees `status: 401 Unauthorized` (a gRPC proxy's usual refusal).
    api_key = (
        f'if ($http_authorization != "Bearer {key}") {{\n'
        "                return 401;\n"
        "            }"
    )
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} info;
events {{
    worker_connections 256;
}}
http {{
    {_temp_paths(binary, root)}
    log_format grpc '$server_port $request_uri $status $request_time '
                    'grpc=$upstream_http_grpc_status$upstream_trailer_grpc_status';
    access_log {root / "access.log"} grpc;
    ssl_protocols TLSv1.2 TLSv1.3;
    # Long polls (up to ~60 s) and long-lived HTTP/2 connections must outlive nginx's defaults.
    grpc_read_timeout {GRPC_TIMEOUT};
    grpc_send_timeout {GRPC_TIMEOUT};
    grpc_connect_timeout 10s;
    client_body_timeout {GRPC_TIMEOUT};
    send_timeout {GRPC_TIMEOUT};
    keepalive_timeout 600s;
    keepalive_requests 100000;
    client_max_body_size 0;
{server(ports["tls"])}
{server(ports["mtls"], mtls)}
{server(ports["api_key"], location=api_key)}
}}
"""


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nginx is not listening on {port} after 15 s: {log.read_text()[-2000:]}")


@contextmanager
def tls_terminator(upstream: str, directory: Path) -> Iterator[Terminator]:
    """nginx with the three doors in front of the plaintext gRPC server at `upstream`
    (host:port); stopped on exit."""
    binary = nginx_binary()
    pki = make_pki(directory / "pki")
    root = directory / "nginx"
    root.mkdir(parents=True, exist_ok=True)
    ports = {"tls": free_port(), "mtls": free_port(), "api_key": free_port()}
    key = f"test-key-{os.urandom(8).hex()}"
    conf = root / "nginx.conf"
    conf.write_text(nginx_config(binary, root, upstream, pki, ports, key))
    check = subprocess.run(
        [binary, "-t", "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected its config: {check.stderr.strip()}")
    output = root / "stderr.log"
    with output.open("wb") as sink:
        proc = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        for port in ports.values():
            _wait_listening(port, proc, root / "error.log")
        yield Terminator(
            tls=f"127.0.0.1:{ports['tls']}",
            mtls=f"127.0.0.1:{ports['mtls']}",
            api_key=f"127.0.0.1:{ports['api_key']}",
            key=key,
            pki=pki,
            access_log=root / "access.log",
            error_log=root / "error.log",
        )
    finally:
        proc.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
