"""Starting a money move from the CLI and reporting it: what `withdraw` and `trade buy|sell`
share once their request is built and signed."""

from __future__ import annotations

import asyncio

from core.models import WithdrawalRequest, WithdrawalStatus
from core.positions import PositionRequest
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
    position: PositionRequest | None = None,
) -> None:
    """Start `req` (signed), say so, and with `wait` follow it to its end: state changes on
    stderr, the final status on stdout. Refused (exit 3) when it ends other than confirmed.
    With `position` (a buy with exits, signed), the position is started and starts `req`."""
    from starter.client import connect, positions, withdrawals

    kind = withdrawals.kind_of(req)
    name = kind.workflow_id(req.request_id)

    def show(current: WithdrawalStatus) -> None:
        reason = f" ({current.reason})" if current.reason else ""
        err.print(f"{name}: {current.status}{reason}")

    async def go() -> tuple[str, bool, WithdrawalStatus | None]:
        client = await connect(settings)
        if position is not None:
            workflow_id, created = await positions.start(client, settings, position)
            started = f"position started: {workflow_id}, buying as {name}"
        else:
            workflow_id, created = await withdrawals.start(client, settings, req, signer)
            started = f"{kind.name} started: {workflow_id}"
        if not created:
            say(
                f"request id {req.request_id} exists already: {workflow_id} (nothing new started)",
                as_json=as_json,
            )
        else:
            say(started, as_json=as_json)
        if position is not None and wait:
            await positions.buy_started(client, req.request_id)
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
