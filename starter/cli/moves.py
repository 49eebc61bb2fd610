"""Starting a money move from the CLI and reporting it: what `withdraw` and `trade buy|sell`
share once their request is built and signed."""

from __future__ import annotations

import asyncio

from core.models import WithdrawalRequest, WithdrawalStatus
from starter.cli.output import emit_json, err, say
from starter.client.errors import Refused
from starter.client.signer import Signer
from starter.runtime.settings import Settings


def start_and_report(
    settings: Settings,
    req: WithdrawalRequest,
    signer: Signer,
    *,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Start `req` (signed), say so, and with `wait` follow it to its end: state changes on
    stderr, the final status on stdout. Refused (exit 3) when it ends other than confirmed."""
    from starter.client import connect, withdrawals

    kind = withdrawals.kind_of(req)
    name = kind.workflow_id(req.request_id)

    def show(current: WithdrawalStatus) -> None:
        reason = f" ({current.reason})" if current.reason else ""
        err.print(f"{name}: {current.status}{reason}")

    async def go() -> tuple[str, bool, WithdrawalStatus | None]:
        client = await connect(settings)
        workflow_id, created = await withdrawals.start(client, settings, req, signer)
        if not created:
            say(
                f"request id {req.request_id} exists already: {workflow_id} (nothing new started)",
                as_json=as_json,
            )
        else:
            say(f"{kind.name} started: {workflow_id}", as_json=as_json)
        result = None
        if wait:
            result = await withdrawals.wait(
                client, req.request_id, on_change=show, timeout=timeout, kind=kind
            )
        return workflow_id, created, result

    workflow_id, created, result = asyncio.run(go())
    if as_json:
        emit_json(
            {
                "workflow_id": workflow_id,
                "created": created,
                "result": None if result is None else result.model_dump(mode="json"),
            }
        )
    elif result is not None:
        print(result.model_dump_json(indent=2))
    if result is not None and result.status != "confirmed":
        raise Refused(f"{kind.name} {req.request_id} ended {result.status}, not confirmed")
