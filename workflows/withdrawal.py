"""WithdrawalWorkflow: one durable workflow per withdrawal, `withdrawal-{request_id}`.

Never send twice, never lose one. The rules, in the order they apply:
1. The workflow id is the request id: a second request with it is refused by Temporal, and
   once Temporal no longer retains the first, by `prepare` (the ledger remembers it).
2. Validate and check policy first; a refusal ends here with nothing reserved.
3. Above the approval threshold, wait for `approve` from someone other than the requester
   (self-approval is refused), `reject`, `cancel`, or the deadline (`expired`).
4. Reserve in the ledger (idempotent), then sign; the signed bytes, tx id and expiry bound are
   persisted before any broadcast, and broadcasts only ever re-send those bytes.
5. A broadcast's outcome is unknown until the chain says: confirmed, failed on chain, or dead
   (expiry passed on finalized data, id not on chain). Only a dead version allows signing a
   new one; only when every version is dead or failed is the reservation released.
6. Anything that can't be decided goes to `manual_review`, reservation held, until an
   operator sends `resolve`.
Cancel is accepted until the first broadcast, never after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core import search_attributes as sa
    from core import texts
    from core.models import (
        Actor,
        Button,
        LedgerChange,
        Notification,
        PreparedWithdrawal,
        Resolution,
        SendOutcome,
        SignedVersion,
        SignRequest,
        VersionInfo,
        WithdrawalRequest,
        WithdrawalState,
        WithdrawalStatus,
    )

R = TypeVar("R")

QUICK = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidInput", "PolicyViolation", "InsufficientFunds"],
)
UNDECIDED_AFTER = timedelta(hours=1)
KEEP_DECISIONS = "manual-review-keeps-decisions"  # workflow.patched id, see _manual_review
# A refused local activity surfaces as its ApplicationError, a remote one as ActivityError.
REFUSED = (ActivityError, ApplicationError)  # send_and_confirm failing this long: manual review


@workflow.defn(name="WithdrawalWorkflow")
class WithdrawalWorkflow:
    @workflow.init
    def __init__(self, req: WithdrawalRequest) -> None:
        self.req = req
        self.state: WithdrawalState = "requested"
        self.reason: str | None = None
        self.prepared: PreparedWithdrawal | None = None
        self.decision: str | None = None  # approve / reject / cancel, while awaiting approval
        self.approved_by: list[str] = []
        self.refused: list[str] = []
        self.cancelled_by: Actor | None = None
        self.broadcast_started = False
        self.signed: list[SignedVersion] = []
        self.outcomes: dict[int, str] = {}  # version -> broadcast / confirmed / failed / expired
        self.tx_id: str | None = None
        self.resolution: Resolution | None = None

    @workflow.run
    async def run(self, req: WithdrawalRequest) -> WithdrawalStatus:
        # 2. Validate and check policy: a refusal ends here, nothing reserved.
        try:
            self.prepared = await self._local(act.PREPARE_WITHDRAWAL, PreparedWithdrawal, req)
        except REFUSED as exc:
            return await self._finish("failed", _reason(exc))
        self._publish()

        # 3. Approval above the threshold, by someone else, before the deadline.
        if self.prepared.approval_required:
            await self._set("awaiting_approval", self.prepared.approval_reason)
            await self._ask_approvers()
            try:
                await workflow.wait_condition(
                    lambda: self.decision is not None or self.cancelled_by is not None,
                    timeout=timedelta(seconds=req.approval_timeout_seconds),
                )
            except TimeoutError:
                return await self._finish("expired", "no approval before the deadline")
            if self.cancelled_by is not None:
                return await self._finish("cancelled", self._cancel_reason())
            if self.decision == "reject":
                return await self._finish("rejected", self.reason)
            await self._set("approved")
        if self.cancelled_by is not None:
            return await self._finish("cancelled", self._cancel_reason())

        # 4. Reserve, then sign and send; re-sign only after a version is proven dead.
        try:
            await self._local(act.RESERVE_WITHDRAWAL, type(None), req, self.prepared)
        except REFUSED as exc:
            return await self._finish("failed", _reason(exc))
        await self._set("reserved")
        for version in range(1, req.max_versions + 1):
            signed = await self._local(
                act.SIGN_WITHDRAWAL,
                SignedVersion,
                SignRequest(
                    request_id=req.request_id,
                    chain=req.chain,
                    version=version,
                    prepared=self.prepared,
                ),
            )
            self.signed.append(signed)
            if self.cancelled_by is not None:  # signed, never broadcast: nothing can land
                return await self._finish("cancelled", self._cancel_reason(), ledger="release")
            self.broadcast_started = True
            await self._set("broadcast", version=version)
            outcome = await self._send(signed)
            if outcome is None:
                return await self._manual_review("no decision from the chain within an hour")
            if outcome.result == "confirmed":
                self.tx_id = signed.tx_id
                return await self._finish("confirmed", None, ledger="debit")
            if outcome.result == "failed":
                # Earlier versions are dead and this one failed for good: nothing can land.
                return await self._finish("failed", outcome.detail, ledger="release")
            workflow.logger.info("version %s expired unlanded; signing a new one", version)
        return await self._finish(
            "failed", f"{req.max_versions} signed versions expired unlanded", ledger="release"
        )

    # ---- signals and the query -----------------------------------------------------------

    @workflow.signal
    def approve(self, actor: Actor | None = None) -> None:
        actor = actor or Actor()
        if actor.by == self.req.requested_by:
            self.refused.append(f"self-approval by {actor.by}")
        elif self.state == "awaiting_approval" and self.decision is None:
            self.approved_by.append(actor.by)
            self.decision = "approve"
        else:
            self.refused.append(f"approve by {actor.by} while {self.state}")

    @workflow.signal
    def reject(self, actor: Actor | None = None) -> None:
        actor = actor or Actor()
        if self.state == "awaiting_approval" and self.decision is None:
            self.decision = "reject"
            self.reason = f"rejected by {actor.by}" + (f": {actor.reason}" if actor.reason else "")
        else:
            self.refused.append(f"reject by {actor.by} while {self.state}")

    @workflow.signal
    def cancel(self, actor: Actor | None = None) -> None:
        actor = actor or Actor()
        if self.broadcast_started or self.state in ("confirmed", "failed", "manual_review"):
            self.refused.append(f"cancel by {actor.by} after broadcast")
        elif self.cancelled_by is None:
            self.cancelled_by = actor

    @workflow.signal
    def resolve(self, resolution: Resolution) -> None:
        if self.state == "manual_review":
            self.resolution = resolution
        else:
            self.refused.append(f"resolve by {resolution.by} while {self.state}")

    @workflow.query
    def status(self) -> WithdrawalStatus:
        return WithdrawalStatus(
            request_id=self.req.request_id,
            chain=self.req.chain,
            asset=self.prepared.symbol if self.prepared else self.req.asset,
            to=self.prepared.to if self.prepared else self.req.to,
            amount=self.req.amount,
            requested_by=self.req.requested_by,
            status=self.state,
            reason=self.reason,
            hot_wallet=self.prepared.hot_wallet if self.prepared else None,
            approved_by=self.approved_by,
            refused=self.refused,
            versions=[
                VersionInfo(
                    version=s.version,
                    tx_id=s.tx_id,
                    expiry=s.expiry,
                    state=self.outcomes.get(s.version, "signed"),
                )
                for s in self.signed
            ],
            tx_id=self.tx_id,
        )

    # ---- steps ----------------------------------------------------------------------------

    async def _send(self, signed: SignedVersion) -> SendOutcome | None:
        """The version's fate, or None when the chain could not be read for an hour."""
        self.outcomes[signed.version] = "broadcast"
        try:
            outcome = await workflow.execute_activity(
                act.SEND_AND_CONFIRM,
                signed,
                result_type=SendOutcome,
                start_to_close_timeout=timedelta(minutes=15),
                heartbeat_timeout=timedelta(seconds=15),
                schedule_to_close_timeout=UNDECIDED_AFTER,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
        except ActivityError:
            return None
        self.outcomes[signed.version] = outcome.result
        return outcome

    async def _manual_review(self, reason: str) -> WithdrawalStatus:
        """Hold the reservation until an operator decides; `recheck` asks the chain again."""
        await self._set("manual_review", reason)
        # A decision sent while a recheck runs is kept for after it (it used to be dropped).
        keep_decisions = workflow.patched(KEEP_DECISIONS)
        while True:
            if not keep_decisions:
                self.resolution = None
            await workflow.wait_condition(lambda: self.resolution is not None)
            decided = self.resolution
            assert decided is not None
            if keep_decisions:
                self.resolution = None
            who = f"{decided.by}: {decided.reason or 'no reason given'}"
            if decided.action == "settle":
                self.tx_id = decided.tx_id or self.signed[-1].tx_id
                return await self._finish("confirmed", f"settled by {who}", ledger="debit")
            if decided.action == "release":
                return await self._finish("failed", f"released by {who}", ledger="release")
            outcome = await self._send(self.signed[-1])  # recheck: same bytes, ask the chain
            if outcome is not None:
                if outcome.result == "confirmed":
                    self.tx_id = self.signed[-1].tx_id
                    return await self._finish("confirmed", None, ledger="debit")
                # Failed, or expired unlanded after every earlier version died: release.
                return await self._finish("failed", outcome.detail or "expired", ledger="release")

    async def _ask_approvers(self) -> None:
        assert self.prepared is not None
        text, buttons = texts.approval_request(
            self.req.request_id, self.req.chain, self.req.requested_by, self.prepared
        )
        for chat in self.req.approver_chats:
            await self._notify(chat, "approval", text, buttons)

    async def _set(
        self, state: WithdrawalState, reason: str | None = None, version: int | None = None
    ) -> None:
        self.state = state
        if reason:
            self.reason = reason
        self._publish()
        if state in ("awaiting_approval", "broadcast", "manual_review"):
            await self._local(
                act.RECORD_WITHDRAWAL,
                type(None),
                LedgerChange(
                    request_id=self.req.request_id,
                    chain=self.req.chain,
                    status=state,
                    reason=reason,
                    version=version,
                ),
            )

    async def _finish(
        self, state: WithdrawalState, reason: str | None, ledger: str | None = None
    ) -> WithdrawalStatus:
        """Record the final state (and debit or release the reservation), tell the requester."""
        self.state = state
        self.reason = reason or self.reason
        self._publish()
        if self.prepared is not None:  # registered: the ledger and the row follow
            await self._local(
                act.RECORD_WITHDRAWAL,
                type(None),
                LedgerChange(
                    request_id=self.req.request_id,
                    chain=self.req.chain,
                    status=state,
                    kind=ledger,
                    reason=self.reason,
                    tx_id=self.tx_id,
                ),
            )
        if self.req.notify_chat:
            text = texts.withdrawal_outcome(self.req.request_id, state, self.reason, self.tx_id)
            await self._notify(self.req.notify_chat, state, text, [])
        return self.status()

    async def _notify(self, chat: int, kind: str, text: str, buttons: list[list[Button]]) -> None:
        try:
            await workflow.execute_activity(
                act.SEND_NOTIFICATION,
                Notification(
                    dedupe_key=f"{chat}:withdrawal:{self.req.request_id}:{kind}",
                    chat_id=chat,
                    text=text,
                    buttons=buttons,
                ),
                task_queue=self.req.notify_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=10),
            )
        except ActivityError as exc:  # a message must not block the money
            workflow.logger.warning("notification to %s failed: %s", chat, exc)

    async def _local(self, name: str, result_type: type[R], *args: Any) -> R:
        """Short, idempotent steps run as local activities: one marker event each."""
        return await workflow.execute_local_activity(
            name,
            args=list(args),
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=QUICK,
        )

    def _publish(self) -> None:
        updates = [sa.STATUS.value_set(self.state), sa.CHAIN.value_set(self.req.chain)]
        if self.prepared:
            updates += [
                sa.ASSET.value_set(self.prepared.symbol),
                sa.ADDRESS.value_set(self.prepared.to),
                sa.REQUESTED_BY.value_set(self.req.requested_by),
            ]
        workflow.upsert_search_attributes(updates)

    def _cancel_reason(self) -> str:
        assert self.cancelled_by is not None
        return f"cancelled by {self.cancelled_by.by}" + (
            f": {self.cancelled_by.reason}" if self.cancelled_by.reason else ""
        )


def _reason(exc: ActivityError | ApplicationError) -> str:
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    return str(cause.message) if isinstance(cause, ApplicationError) else str(cause or exc)
