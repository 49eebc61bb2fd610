"""What `walletflow setup` asks of a Temporal cluster: the namespace and walletflow's custom
search attributes (core/search_attributes.py `ALL`), read or created when missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core import search_attributes
from core.errors import UserError


@dataclass(frozen=True)
class NamespaceInfo:
    name: str
    exists: bool
    retention: timedelta | None = None


@dataclass(frozen=True)
class AttributeState:
    name: str
    type: str  # walletflow's: "Keyword", ...
    state: Literal["registered", "missing", "conflict"]
    found: str | None = None  # the cluster's type when it conflicts


def type_name(value: int) -> str:
    """INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList (the `temporal` CLI's spelling)."""
    raw = IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_")  # type: ignore[arg-type]
    return "".join(part.capitalize() for part in raw.split("_"))


async def describe_namespace(client: Client, namespace: str) -> NamespaceInfo:
    try:
        resp = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return NamespaceInfo(namespace, exists=False)
        raise
    period = resp.config.workflow_execution_retention_ttl
    return NamespaceInfo(namespace, True, period.ToTimedelta() if period.seconds else None)


async def create_namespace(client: Client, namespace: str, retention: timedelta) -> bool:
    """Register the namespace; False if it exists already."""
    ttl = Duration()
    ttl.FromTimedelta(retention)
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=ttl)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            return False
        raise
    return True


async def attribute_states(client: Client, namespace: str) -> list[AttributeState]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    states = []
    for key in search_attributes.ALL:
        wanted = int(key.indexed_value_type)
        have = listed.custom_attributes.get(key.name)
        if have is None:
            states.append(AttributeState(key.name, type_name(wanted), "missing"))
        elif have != wanted:
            states.append(AttributeState(key.name, type_name(wanted), "conflict", type_name(have)))
        else:
            states.append(AttributeState(key.name, type_name(wanted), "registered"))
    return states


async def add_attributes(client: Client, namespace: str, names: list[str]) -> None:
    """Create the named walletflow attributes; one that exists already is not an error."""
    wanted = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
        if key.name in names
    }
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted)
        )
    except RPCError as exc:
        if "already exists" not in str(exc):
            raise UserError(f"cannot create search attributes: {exc.message}") from None
