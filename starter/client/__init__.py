"""One way to reach Temporal: the profile's TLS and API key, the pydantic data converter
(Decimal-safe) and the payload codec, on every client."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
from temporalio.service import RPCError

from core import search_attributes
from core.errors import UserError
from starter.runtime.codec import read_key_ring, with_codec
from starter.runtime.settings import Settings
from starter.runtime.telemetry import client_interceptors


async def connect(settings: Settings, interceptors: Sequence[Interceptor] = ()) -> Client:
    """A client with tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set (runtime.telemetry) and the
    payload codec when WALLETFLOW_CODEC_KEYS is set; its workers inherit both, so one trace runs
    from the caller through the workflow's activities, and every payload is encrypted."""
    options = connect_options(settings)
    try:
        return await Client.connect(
            **options,
            data_converter=data_converter(settings),
            interceptors=[*client_interceptors(settings), *interceptors],
        )
    except RuntimeError as exc:
        address = options["target_host"]
        raise UserError(f"cannot reach Temporal at {address}: {explain(exc, options)}") from None


def data_converter(settings: Settings) -> DataConverter:
    """The pydantic converter (Decimal-safe), encrypting when WALLETFLOW_CODEC_KEYS is set."""
    keys = settings.codec_keys.get_secret_value() if settings.codec_keys else ""
    return with_codec(pydantic_data_converter, read_key_ring(keys) if keys else None)


def connect_options(settings: Settings) -> ClientConnectConfig:
    """Address, namespace, TLS and API key the way the `temporal` CLI reads them: Temporal's
    envconfig (a TOML profile, overridden by TEMPORAL_* variables), with walletflow's
    defaults (localhost:7233, namespace `default`, plaintext) where neither says anything."""
    env = settings.temporal_env()
    if _truthy(env.get("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION")) or _profile_skips_verify(
        settings, env
    ):
        raise UserError(
            "TLS host verification cannot be disabled: the Python SDK ignores "
            "disable_host_verification; set TEMPORAL_TLS_SERVER_NAME to the name the "
            "certificate carries instead"
        )
    try:
        profile = ClientConfigProfile.load(profile=settings.temporal_profile, override_env_vars=env)
        options = profile.to_client_connect_config()
    except (RuntimeError, ValueError, OSError) as exc:
        raise UserError(f"invalid Temporal client config: {str(exc).splitlines()[0]}") from None
    options.setdefault("target_host", settings.temporal_address)
    options.setdefault("namespace", settings.temporal_namespace)
    return options


def explain(exc: RuntimeError, options: ClientConnectConfig) -> str:
    """One line a person can act on, from the SDK's connect error (a long tonic chain). The
    texts are the Core SDK's (tonic, rustls): tests/starter/client/test_tls.py meets each one
    through a real TLS terminator (nginx) in front of a dev server."""
    text = str(exc)
    lowered = text.lower()
    compact = lowered.replace(" ", "")  # rustls names errors in CamelCase: UnknownIssuer
    tls = options.get("tls")
    has_cert = getattr(tls, "client_cert", None) is not None
    # A gRPC UNAUTHENTICATED from Temporal, or an HTTP 401 from a proxy in front of it.
    if "unauthenticated" in lowered or "status:401" in compact or "api key" in lowered:
        if options.get("api_key"):
            return "the API key was refused (TEMPORAL_API_KEY)"
        return "the server requires an API key (TEMPORAL_API_KEY)"
    # The TLS 1.3 alert (Go's TLS server), or the HTTP 400 that nginx sends instead.
    if "certificaterequired" in compact or "norequiredsslcertificate" in compact:
        return "the server requires a client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH)"
    if tls and "status:400badrequest" in compact:
        if not has_cert:
            return (
                "the server requires a client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH/"
                "KEY_PATH): it answered HTTP 400 to a TLS client without one"
            )
        return (
            "the server refused the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH: is it "
            "signed by a CA the server trusts?): it answered HTTP 400"
        )
    if "alertreceived(badcertificate)" in compact or "alertreceived(unknownca)" in compact:
        return (
            "the server refused the client certificate "
            "(TEMPORAL_TLS_CLIENT_CERT_PATH: is it signed by a CA the server trusts?)"
        )
    if "unknownissuer" in compact:
        return (
            "the server's certificate is not signed by a trusted CA "
            "(TEMPORAL_TLS_SERVER_CA_CERT_PATH)"
        )
    if "notvalidforname" in compact or "certificate is not valid for" in lowered:
        return "the server's certificate does not name this host (TEMPORAL_TLS_SERVER_NAME)"
    if tls and ("invalid http version" in lowered or "wrong version number" in lowered):
        return "TLS is on but the server speaks plaintext (TEMPORAL_TLS=false?)"
    # A TLS server's answer to plaintext (an alert, an HTTP/1 400) read as HTTP/2 frames.
    plaintext_refused = ("connection reset", "broken pipe", "connection closed", "frame_size_error")
    if not tls and any(s in lowered for s in plaintext_refused):
        return "the server closed a plaintext connection: does it require TLS (TEMPORAL_TLS)?"
    return text.splitlines()[0]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _profile_skips_verify(settings: Settings, env: dict[str, str]) -> bool:
    """Whether the profile file asks to skip host verification (which the SDK would ignore)."""
    path = env.get("TEMPORAL_CONFIG_FILE") or str(
        Path.home() / ".config" / "temporalio" / "temporal.toml"
    )
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False  # absent; a malformed file is reported by envconfig itself
    name = env.get("TEMPORAL_PROFILE") or settings.temporal_profile or "default"
    tls = doc.get("profile", {}).get(name, {}).get("tls", {})
    return isinstance(tls, dict) and tls.get("disable_host_verification") is True


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Create walletflow's search attributes that the namespace lacks; returns those added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in search_attributes.ALL
        if key.name not in existing.custom_attributes
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            if "already exists" not in str(exc):
                raise
    return sorted(missing)
