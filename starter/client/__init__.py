"""One way to reach Temporal: the pydantic data converter (Decimal-safe) on every client."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from core import search_attributes
from core.errors import UserError
from starter.runtime.settings import Settings
from starter.runtime.telemetry import client_interceptors


async def connect(settings: Settings, interceptors: Sequence[Interceptor] = ()) -> Client:
    """A client with tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set (runtime.telemetry); its
    workers inherit it, so one trace runs from the caller through the workflow's activities."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            interceptors=[*client_interceptors(settings), *interceptors],
        )
    except RuntimeError as exc:
        raise UserError(
            f"cannot reach Temporal at TEMPORAL_ADDRESS {settings.temporal_address}: "
            f"{str(exc).splitlines()[0]}"
        ) from None


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
