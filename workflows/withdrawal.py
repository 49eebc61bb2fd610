"""WithdrawalWorkflow: one durable workflow per withdrawal, `withdrawal-{request_id}`.

Never send twice, never lose one. The rules, in the order they apply:
1. The workflow id is the request id: a second request with it is refused by Temporal, and
   once Temporal no longer retains the first, by `prepare` (the ledger remembers it).
2. Validate and check policy first; a refusal ends here with nothing reserved.
   Before anything, the requester's signed `withdraw` statement is verified against the
   roster (core/intents.py): no valid statement, no withdrawal.
3. Above the approval threshold, wait for M distinct approvers (`approve`), none of them the
   requester, or `reject`, `cancel`, or the deadline (`expired`). Every decision is a signed
   statement, verified here against the roster as it is now; a refusal is audited and
   returned to the caller. The roster is read again before signing: a revoked approver stops
   counting.
4. Reserve in the ledger (idempotent, within the rolling limits), then sign; the signed
   bytes, tx id and expiry bound are persisted before any broadcast, and broadcasts only ever
   re-send those bytes. While the chain is frozen (`policy-{chain}`) nothing is reserved,
   signed or broadcast: the workflow waits until the unfreeze or the request's deadline, and
   a version signed before the freeze but not yet broadcast is held until proven dead.
5. A broadcast's outcome is unknown until the chain says: confirmed, failed on chain, or dead
   (expiry passed on finalized data, id not on chain). Only a dead version allows signing a
   new one; only when every version is dead or failed is the reservation released.
6. Anything that can't be decided goes to `manual_review`, reservation held, until an
   operator sends `resolve`.
Cancel is accepted until the first broadcast, never after.

Workflows started before signed intents (no `signed-intents` marker) keep the signals of old,
so that their histories replay; the same names are now updates, and signals that carry a
signed statement are accepted as deprecated aliases.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core import search_attributes as sa
    from core import texts
    from core.copying import CopyGrant
    from core.exits import ExitGrant
    from core.ids import RESERVED_REFUSAL, reserved_trade_id
    from core.intents import NEEDS, Action, Roster, SignedIntent, Verdict, verify
    from core.models import (
        Actor,
        AuditEntry,
        Button,
        Decision,
        DecisionOutcome,
        Fill,
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
    from workflows.steps import QUICK, local, parsed

R = TypeVar("R")

UNDECIDED_AFTER = timedelta(hours=1)
KEEP_DECISIONS = "manual-review-keeps-decisions"  # workflow.patched id, see _manual_review
SIGNED_INTENTS = "signed-intents"  # workflow.patched id: authority by signed statements
RESERVED_IDS = "reserved-request-ids"  # workflow.patched id: derived ids refused to requests
SIGN_ATTEMPTS = 10  # signing failing this often: manual review, not a retry loop forever
FROZEN_FIRST_PAUSE = timedelta(seconds=2)  # while frozen: ask again after this, doubling
FROZEN_MAX_PAUSE = timedelta(minutes=1)
# A refused local activity surfaces as its ApplicationError, a remote one as ActivityError.
REFUSED = (ActivityError, ApplicationError)  # send_and_confirm failing this long: manual review


@workflow.defn(name="WithdrawalWorkflow")
class WithdrawalWorkflow:
    # What differs between a withdrawal and a trade (TradeWorkflow below): the statement's
    # action, the activities that prepare and sign, and the names in audit and messages.
    KIND = "withdrawal"
    INTENT: Action = "withdraw"
    PREPARE = act.PREPARE_WITHDRAWAL
    SIGN = act.SIGN_WITHDRAWAL

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
        self.requester = req.requested_by  # the verified identity, with signed intents
        self.approvals: dict[str, str] = {}  # approver identity -> the principal that signed
        self.nonces: set[str] = set()  # statements already used in this workflow
        self.fill: Fill | None = None
        self._authority: bool | None = None

    @workflow.run
    async def run(self, req: WithdrawalRequest) -> WithdrawalStatus:
        # 2. A valid signed statement by a requester, then policy: a refusal ends here.
        if self._signed_intents():
            refusal = await self._check_request()
            if refusal is not None:
                return await self._finish("rejected", refusal)
            req = self.req  # requested_by is now the verified identity
        try:
            self.prepared = await local(self.PREPARE, PreparedWithdrawal, req)
        except REFUSED as exc:
            return await self._finish("failed", _reason(exc))
        self._publish()

        # 3. Approval above the threshold, by someone else, before the deadline.
        if self.prepared.approval_required:
            await self._set("awaiting_approval", self.prepared.approval_reason)
            deadline = workflow.now() + timedelta(seconds=req.approval_timeout_seconds)
            await self._ask_approvers(deadline)
            while True:
                try:
                    await workflow.wait_condition(
                        lambda: self.decision is not None or self.cancelled_by is not None,
                        timeout=deadline - workflow.now(),
                    )
                except TimeoutError:
                    return await self._finish("expired", "no approval before the deadline")
                if self.cancelled_by is not None:
                    return await self._finish("cancelled", self._cancel_reason())
                if self.decision == "reject":
                    return await self._finish("rejected", self.reason)
                if not self._signed_intents():
                    break
                # Before signing, the roster as it is now: a revoked key stops counting.
                refusal = self._recount(await local(act.LOAD_ROSTER, Roster))
                if refusal is not None:
                    return await self._finish("rejected", refusal)
                if len(self.approvals) >= self._required():
                    break
                self.decision = None  # wait for more approvers, until the deadline
            await self._set("approved")
        if self.cancelled_by is not None:
            return await self._finish("cancelled", self._cancel_reason())

        # 4. Reserve, then sign and send; re-sign only after a version is proven dead.
        #    While the chain is frozen nothing is reserved, signed or broadcast: wait for an
        #    unfreeze until the request's deadline.
        try:
            await self._unfrozen(
                lambda: local(act.RESERVE_WITHDRAWAL, type(None), req, self.prepared)
            )
        except StoppedWhileFrozen as stop:
            return await self._finish(stop.state, str(stop))
        except REFUSED as exc:
            return await self._finish("failed", _reason(exc))
        await self._set("reserved")
        refusal = await self._before_signing()
        if refusal is not None:  # nothing of this move was signed: nothing can land
            return await self._finish("failed", refusal, ledger="release")
        max_versions = self.prepared.max_versions if self._signed_intents() else req.max_versions
        version = sent = 0
        while sent < max_versions:
            version += 1
            if self._signed_intents() and self.cancelled_by is not None:  # nothing can land
                return await self._finish("cancelled", self._cancel_reason(), ledger="release")
            if self._signed_intents() and version > 1:
                refusal = await self._still_authorized()
                if refusal is not None:  # every earlier version is dead: nothing can land
                    return await self._finish("failed", refusal, ledger="release")
            try:
                signed = await self._unfrozen(functools.partial(self._sign, version))
            except StoppedWhileFrozen as stop:  # every earlier version is dead
                return await self._finish(stop.state, str(stop), ledger="release")
            except REFUSED as exc:
                if _kind(exc) == "VenueRefused":  # a trade's venue said no: nothing was signed
                    return await self._finish("failed", _reason(exc), ledger="release")
                return await self._manual_review(f"signing failed: {_reason(exc)}")
            self.signed.append(signed)
            if self.cancelled_by is not None:
                return await self._cancel_signed(signed)
            if not await self._start_broadcast(version):
                # Frozen after signing: these bytes are never sent. Once they are proven
                # dead, a new version may be signed (after the unfreeze); it does not count.
                held = await self._prove_dead(signed)
                if held is None:
                    return await self._manual_review("held while frozen; its death is unproven")
                if held.result == "confirmed":  # the bytes were sent by someone: it is paid
                    self.tx_id = signed.tx_id
                    return await self._finish("confirmed", "landed although held", ledger="debit")
                continue
            sent += 1
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
            "failed", f"{max_versions} signed versions expired unlanded", ledger="release"
        )

    # ---- decisions: updates, each a signed statement -----------------------------------------
    # Arguments arrive untyped and are parsed by the validator: a payload that does not parse
    # must reject the update, not fail the workflow task (which would stall the workflow).

    @workflow.update
    async def approve(self, decision: Any) -> DecisionOutcome:
        return await self._decide("approve", Decision.model_validate(decision))

    @approve.validator
    def _approve_allowed(self, decision: Any) -> None:
        _parsed(decision)
        self._allowed("approve")

    @workflow.update
    async def reject(self, decision: Any) -> DecisionOutcome:
        return await self._decide("reject", Decision.model_validate(decision))

    @reject.validator
    def _reject_allowed(self, decision: Any) -> None:
        _parsed(decision)
        self._allowed("reject")

    @workflow.update
    async def cancel(self, decision: Any) -> DecisionOutcome:
        return await self._decide("cancel", Decision.model_validate(decision))

    @cancel.validator
    def _cancel_allowed(self, decision: Any) -> None:
        _parsed(decision)
        self._allowed("cancel")

    @workflow.update
    async def resolve(self, decision: Any) -> DecisionOutcome:
        return await self._decide("resolve", Decision.model_validate(decision))

    @resolve.validator
    def _resolve_allowed(self, decision: Any) -> None:
        if _parsed(decision).action is None:
            raise ValueError("resolve needs an action: recheck, release or settle")
        self._allowed("resolve")

    # Deprecated signal aliases (one release): a signed statement is decided as the update
    # would (the sender learns nothing back); an unsigned one only in a workflow started
    # before signed intents, whose history holds such signals.

    @workflow.signal(name="approve")
    async def approve_signal(self, payload: dict[str, Any] | None = None) -> None:
        await self._signalled("approve", payload)

    @workflow.signal(name="reject")
    async def reject_signal(self, payload: dict[str, Any] | None = None) -> None:
        await self._signalled("reject", payload)

    @workflow.signal(name="cancel")
    async def cancel_signal(self, payload: dict[str, Any] | None = None) -> None:
        await self._signalled("cancel", payload)

    @workflow.signal(name="resolve")
    async def resolve_signal(self, payload: dict[str, Any] | None = None) -> None:
        await self._signalled("resolve", payload)

    @workflow.query
    def status(self) -> WithdrawalStatus:
        return WithdrawalStatus(
            request_id=self.req.request_id,
            chain=self.req.chain,
            asset=self.prepared.symbol if self.prepared else self.req.asset,
            to=self.prepared.to if self.prepared else self.req.to,
            amount=self.req.amount,
            requested_by=self.requester,
            status=self.state,
            reason=self.reason,
            hot_wallet=self.prepared.hot_wallet if self.prepared else None,
            approved_by=self.approved_by,
            approvals_required=self._required() if self.prepared else 0,
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
            output=self.prepared.swap.output_symbol
            if self.prepared and self.prepared.swap
            else None,
            fill=self.fill,
        )

    # ---- authority --------------------------------------------------------------------------

    def _signed_intents(self) -> bool:
        """Whether this run decides by signed statements (every run started since they exist)."""
        if self._authority is None:
            self._authority = workflow.patched(SIGNED_INTENTS)
        return self._authority

    def _required(self) -> int:
        assert self.prepared is not None
        return self.prepared.approvals_required if self._signed_intents() else 1

    async def _verify(
        self,
        action: Action,
        intent: SignedIntent,
        params: dict[str, Any],
        workflow_id: str | None = None,
    ) -> Verdict:
        """The statement against the roster as it is now (re-read: revocations count); about
        this workflow unless it names another (a copied trade: its copy workflow)."""
        roster = await local(act.LOAD_ROSTER, Roster)
        verdict = verify(
            intent,
            roster,
            action=action,
            workflow_id=workflow_id or workflow.info().workflow_id,
            params=params,
            now=int(workflow.now().timestamp()),
            seen_nonces=self.nonces,
        )
        if verdict.ok:
            self.nonces.add(intent.intent.nonce)
        return verdict

    async def _check_request(self) -> str | None:
        """The requester's `withdraw` (`trade`) statement; the refusal, audited, if invalid."""
        intent = self.req.intent
        refusal: str | None = f"no signed {self.INTENT} statement"
        # A squatted `sweep-…` (`copy-…`, `exit-…`) id would block the move it names.
        if reserved_trade_id(self.req.request_id) and workflow.patched(RESERVED_IDS):
            refusal = RESERVED_REFUSAL
        elif intent is not None:
            verdict = await self._verify(self.INTENT, intent, self.req.withdraw_params())
            refusal = verdict.reason
            if verdict.ok:
                assert verdict.identity is not None
                self.requester = verdict.identity
                self.req = self.req.model_copy(update={"requested_by": verdict.identity})
        await self._audit(self.INTENT, "start", intent, refusal)
        return refusal

    async def _decide(self, action: Action, decision: Decision) -> DecisionOutcome:
        verdict = await self._verify(action, decision.intent, decision.params())
        refusal = verdict.reason if not verdict.ok else self._refusal(action, verdict)
        await self._audit(action, _update_id(), decision.intent, refusal, decision.reason)
        if refusal is not None:
            signer = decision.intent.intent.on_behalf_of or decision.intent.intent.principal
            self.refused.append(f"{action} by {signer}: {refusal}")
            return DecisionOutcome(outcome="refused", reason=refusal)
        identity = verdict.identity
        assert identity is not None
        if action == "approve":
            self.approvals[identity] = decision.intent.intent.principal
            self.approved_by.append(identity)
            if len(self.approvals) >= self._required():
                self.decision = "approve"
        elif action == "reject":
            self.decision = "reject"
            self.reason = f"rejected by {identity}" + (
                f": {decision.reason}" if decision.reason else ""
            )
        elif action == "cancel":
            self.cancelled_by = Actor(by=identity, reason=decision.reason)
        else:
            assert decision.action is not None  # the validator saw to it
            self.resolution = Resolution(
                by=identity, reason=decision.reason, action=decision.action, tx_id=decision.tx_id
            )
        return DecisionOutcome(outcome="accepted")

    def _allowed(self, action: Action) -> None:
        """What the state no longer allows (validators: read-only, nothing in history)."""
        refusal = self._state_refusal(action)
        if refusal is not None:
            raise ValueError(refusal)

    def _state_refusal(self, action: Action) -> str | None:
        if action in ("approve", "reject"):
            if self.state != "awaiting_approval" or self.decision is not None:
                return f"{action} while {self.state}: not awaiting approval"
        elif action == "cancel":
            if self.broadcast_started or self.state in ("confirmed", "failed", "manual_review"):
                return f"cancel while {self.state}: too late, the withdrawal was broadcast"
        elif action == "resolve" and self.state != "manual_review":
            return f"resolve while {self.state}: not in manual review"
        return None

    def _refusal(self, action: Action, verdict: Verdict) -> str | None:
        """Separation of duties, and the state once the statement is verified."""
        identity = verdict.identity
        if action == "approve" and identity == self.requester:
            return f"self-approval by {identity}: the requester never counts as an approver"
        if action == "approve" and identity in self.approvals:
            return f"{identity} approved already: one principal counts once"
        if action == "cancel" and "admin" not in verdict.roles and identity != self.requester:
            return f"{identity} may not cancel another requester's withdrawal"
        return self._state_refusal(action)

    def _recount(self, roster: Roster) -> str | None:
        """With the roster of now: the requester's refusal if they may no longer request;
        otherwise drop the approvals whose principal was revoked or lost the role."""
        action, intent = self._statement()
        assert intent is not None
        if not set(roster.roles_of(intent.intent.principal, self.requester)) & set(NEEDS[action]):
            return f"{self.requester} may no longer request {action} moves (revoked)"
        for identity, principal_id in list(self.approvals.items()):
            if "approver" not in roster.roles_of(principal_id, identity):
                del self.approvals[identity]
                self.refused.append(f"approval by {identity} no longer counts: revoked")
        return None

    def _statement(self) -> tuple[Action, SignedIntent | None]:
        """The statement this move stands on: the requester's own, or for a copied trade or
        a position's exit the standing one of the copy or position that started it."""
        grant = self.req.copied_by or self.req.exit_of
        if grant is not None:
            return grant.ACTION, grant.intent
        return self.INTENT, self.req.intent

    async def _still_authorized(self) -> str | None:
        """Before a new signature: the requester and the approvals, with the roster of now."""
        refusal = self._recount(await local(act.LOAD_ROSTER, Roster))
        assert self.prepared is not None
        short = self.prepared.approval_required and len(self.approvals) < self._required()
        if refusal is None and short:
            refusal = "an approver was revoked: the approvals no longer suffice"
        return refusal

    async def _signalled(self, action: Action, payload: dict[str, Any] | None) -> None:
        if payload is not None and "intent" in payload:
            try:
                decision = Decision.model_validate(payload)
            except ValueError:
                self.refused.append(f"{action} signal with a malformed statement")
                return
            await self._decide(action, decision)
        elif self._signed_intents():
            self.refused.append(f"unsigned {action} signal: decisions need a signed statement")
        else:
            self._legacy_signal(action, payload or {})

    def _legacy_signal(self, action: Action, payload: dict[str, Any]) -> None:
        """The signals of workflows started before signed intents, exactly as they were."""
        if action == "resolve":
            resolution = Resolution.model_validate(payload)
            if self.state == "manual_review":
                self.resolution = resolution
            else:
                self.refused.append(f"resolve by {resolution.by} while {self.state}")
            return
        actor = Actor.model_validate(payload)
        if action == "approve":
            if actor.by == self.req.requested_by:
                self.refused.append(f"self-approval by {actor.by}")
            elif self.state == "awaiting_approval" and self.decision is None:
                self.approved_by.append(actor.by)
                self.decision = "approve"
            else:
                self.refused.append(f"approve by {actor.by} while {self.state}")
        elif action == "reject":
            if self.state == "awaiting_approval" and self.decision is None:
                self.decision = "reject"
                self.reason = f"rejected by {actor.by}" + (
                    f": {actor.reason}" if actor.reason else ""
                )
            else:
                self.refused.append(f"reject by {actor.by} while {self.state}")
        elif self.broadcast_started or self.state in ("confirmed", "failed", "manual_review"):
            self.refused.append(f"cancel by {actor.by} after broadcast")
        elif self.cancelled_by is None:
            self.cancelled_by = actor

    async def _audit(
        self,
        action: str,
        key: str,
        intent: SignedIntent | None,
        refusal: str | None,
        reason: str | None = None,
    ) -> None:
        """Every statement, accepted or refused, in the append-only audit log."""
        statement = intent.intent if intent is not None else None
        await local(
            act.AUDIT,
            type(None),
            AuditEntry(
                actor=(statement.on_behalf_of or statement.principal) if statement else "anonymous",
                principal=statement.principal if statement else None,
                action=f"{self.KIND}.{action}",
                subject=f"{self.KIND}:{self.req.request_id}",
                outcome="refused" if refusal else "accepted",
                reason=refusal or reason,
                key=f"{workflow.info().workflow_id}:{key}",
            ),
        )

    # ---- steps ----------------------------------------------------------------------------

    async def _sign(self, version: int) -> SignedVersion:
        assert self.prepared is not None
        request = SignRequest(
            request_id=self.req.request_id,
            chain=self.req.chain,
            version=version,
            prepared=self.prepared,
        )
        if not self._signed_intents():
            return await local(self.SIGN, SignedVersion, request)
        return await workflow.execute_local_activity(
            self.SIGN,
            request,
            result_type=SignedVersion,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=QUICK.initial_interval,
                maximum_interval=QUICK.maximum_interval,
                maximum_attempts=SIGN_ATTEMPTS,
                non_retryable_error_types=QUICK.non_retryable_error_types,
            ),
        )

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

    async def _cancel_signed(self, signed: SignedVersion) -> WithdrawalStatus:
        """Cancelled after signing, before any broadcast. The signed bytes exist, so the
        reservation is released only once they are proven dead (with signed intents; before,
        "never broadcast" was taken as proof)."""
        if not self._signed_intents():
            return await self._finish("cancelled", self._cancel_reason(), ledger="release")
        outcome = await self._prove_dead(signed)
        if outcome is None:
            return await self._manual_review("cancelled after signing; its death is unproven")
        if outcome.result == "confirmed":  # the bytes were sent by someone: it is paid
            self.tx_id = signed.tx_id
            return await self._finish("confirmed", "landed although cancelled", ledger="debit")
        return await self._finish("cancelled", self._cancel_reason(), ledger="release")

    async def _prove_dead(self, signed: SignedVersion) -> SendOutcome | None:
        """Wait until a version that is never to be broadcast cannot land (or did land);
        None when the chain could not tell within an hour."""
        self.outcomes[signed.version] = "signed"
        try:
            outcome = await workflow.execute_activity(
                act.PROVE_DEAD,
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

    async def _start_broadcast(self, version: int) -> bool:
        """Mark the version broadcast; False when the chain is frozen (the version is held)."""
        self.broadcast_started = True
        try:
            await self._set("broadcast", version=version)
        except REFUSED as exc:
            if _kind(exc) != "Frozen":
                raise
            self.broadcast_started = False
            self.state = "reserved"
            self._publish()
            workflow.logger.info("version %s held: %s is frozen", version, self.req.chain)
            return False
        return True

    async def _unfrozen(self, step: Callable[[], Awaitable[R]]) -> R:
        """`step`, asked again while the chain is frozen, with a growing pause;
        StoppedWhileFrozen once the request's deadline has passed or it was cancelled."""
        pause, reason = FROZEN_FIRST_PAUSE, self.reason
        deadline = workflow.info().start_time + timedelta(seconds=self.req.approval_timeout_seconds)
        while True:
            try:
                result = await step()
                self.reason = reason
                return result
            except REFUSED as exc:
                if _kind(exc) != "Frozen":
                    raise
            if workflow.now() >= deadline:
                raise StoppedWhileFrozen(
                    "failed", f"{self.req.chain} stayed frozen past the request's deadline"
                )
            self.reason = f"waiting: {self.req.chain} is frozen"
            with contextlib.suppress(TimeoutError):  # a cancel ends the wait at once
                await workflow.wait_condition(
                    lambda: self.cancelled_by is not None,
                    timeout=min(pause, max(deadline - workflow.now(), timedelta(seconds=1))),
                )
            if self.cancelled_by is not None:
                raise StoppedWhileFrozen("cancelled", self._cancel_reason())
            pause = min(pause * 2, FROZEN_MAX_PAUSE)

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
            if not self.signed:  # signing failed: nothing was signed, so nothing to ask
                continue
            outcome = await self._send(self.signed[-1])  # recheck: same bytes, ask the chain
            if outcome is not None:
                if outcome.result == "confirmed":
                    self.tx_id = self.signed[-1].tx_id
                    return await self._finish("confirmed", None, ledger="debit")
                # Failed, or expired unlanded after every earlier version died: release.
                return await self._finish("failed", outcome.detail or "expired", ledger="release")

    async def _ask_approvers(self, deadline: datetime) -> None:
        assert self.prepared is not None
        text, buttons = texts.approval_request(
            self.req.request_id, self.req.chain, self.requester, self.prepared
        )
        for chat in self.req.approver_chats:
            if not self._signed_intents():
                await self._notify(chat, "approval", text, buttons)
            else:  # re-sent until the deadline, without holding up the decisions meanwhile
                workflow.start_activity(
                    act.SEND_NOTIFICATION,
                    self._notification(chat, "approval", text, buttons),
                    task_queue=self.req.notify_queue,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=deadline - workflow.now(),
                )

    async def _set(
        self, state: WithdrawalState, reason: str | None = None, version: int | None = None
    ) -> None:
        self.state = state
        if reason:
            self.reason = reason
        self._publish()
        if state in ("awaiting_approval", "broadcast", "manual_review"):
            await local(
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
        if ledger == "debit":
            self.fill = await self._fill()
        if self.prepared is not None:  # registered: the ledger and the row follow
            await local(
                act.RECORD_WITHDRAWAL,
                type(None),
                LedgerChange(
                    request_id=self.req.request_id,
                    chain=self.req.chain,
                    status=state,
                    kind=ledger,
                    reason=self.reason,
                    tx_id=self.tx_id,
                    fill=self.fill,
                ),
            )
        if self.req.notify_chat:
            await self._notify(self.req.notify_chat, state, self._outcome_text(), [])
        return self.status()

    async def _fill(self) -> Fill | None:
        """What the confirmed transaction moved, when it matters beyond the request (trades)."""
        return None

    async def _before_signing(self) -> str | None:
        """What must happen on chain before the move can be signed (a sweep's steps); the
        refusal if it could not."""
        return None

    def _outcome_text(self) -> str:
        return texts.withdrawal_outcome(
            self.req.request_id, self.state, self.reason, self.tx_id, self.prepared
        )

    async def _notify(self, chat: int, kind: str, text: str, buttons: list[list[Button]]) -> None:
        try:
            await workflow.execute_activity(
                act.SEND_NOTIFICATION,
                self._notification(chat, kind, text, buttons),
                task_queue=self.req.notify_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=10),
            )
        except ActivityError as exc:  # a message must not block the money
            workflow.logger.warning("notification to %s failed: %s", chat, exc)

    def _notification(
        self, chat: int, kind: str, text: str, buttons: list[list[Button]]
    ) -> Notification:
        return Notification(
            dedupe_key=f"{chat}:{self.KIND}:{self.req.request_id}:{kind}",
            chat_id=chat,
            text=text,
            buttons=buttons,
        )

    def _publish(self) -> None:
        updates = [sa.STATUS.value_set(self.state), sa.CHAIN.value_set(self.req.chain)]
        if self.prepared:
            updates += [
                sa.ASSET.value_set(self.prepared.symbol),
                sa.REQUESTED_BY.value_set(self.requester),
            ]
            if self.prepared.searchable_destination:
                updates.append(sa.ADDRESS.value_set(self.prepared.to))
        workflow.upsert_search_attributes(updates + self._attributes())

    def _attributes(self) -> list[SearchAttributeUpdate[Any]]:
        """More search attributes, for a kind of move that has them (trades)."""
        return []

    def _cancel_reason(self) -> str:
        assert self.cancelled_by is not None
        return f"cancelled by {self.cancelled_by.by}" + (
            f": {self.cancelled_by.reason}" if self.cancelled_by.reason else ""
        )


@workflow.defn(name="TradeWorkflow")
class TradeWorkflow(WithdrawalWorkflow):
    """`trade-{request_id}`: a swap from the trading wallet, under every rule above, by the
    same code. What differs: the requester signs a `trade` statement over the swap's terms;
    each version is a fresh quote turned into the venue's transaction and signed by the
    trading wallet (so a new quote is only taken once the earlier version is proven dead);
    and a confirmed trade records its fill, read from the chain."""

    KIND = "trade"
    INTENT: Action = "trade"
    PREPARE = act.PREPARE_TRADE
    SIGN = act.SIGN_TRADE

    @workflow.run
    async def run(self, req: WithdrawalRequest) -> WithdrawalStatus:
        return await super().run(req)

    async def _check_request(self) -> str | None:
        """A copied trade (`trade-copy-…`) or a position's exit (`trade-exit-…`) carries no
        `trade` statement of its own: it must be a child of the workflow its grant names
        (Temporal records the parent; no client can claim one), whose standing statement
        (`copy`, `exits`) is valid now, and stay within what that statement signed."""
        grant = self.req.copied_by or self.req.exit_of
        if grant is None:
            return await super()._check_request()
        parent = workflow.info().parent
        what = "a copied trade" if grant.ACTION == "copy" else "a position's exit"
        refusal: str | None = "no signed statement"
        if parent is None or parent.workflow_id != grant.parent:
            refusal = f"{what} must be started by {grant.parent}"
        elif grant.intent is not None:
            verdict = await self._verify(grant.ACTION, grant.intent, grant.params(), grant.parent)
            refusal = verdict.reason if not verdict.ok else self._outside(grant)
            if refusal is None and verdict.identity is not None:
                self.requester = verdict.identity
                self.req = self.req.model_copy(update={"requested_by": verdict.identity})
        await self._audit(grant.ACTION, "start", grant.intent, refusal)
        return refusal

    def _outside(self, grant: CopyGrant | ExitGrant) -> str | None:
        """Why this trade is not one its grant allows, or None."""
        if isinstance(grant, ExitGrant):
            return self._outside_exits(grant)
        rules, swap = grant.rules, self.req.swap
        if swap is None:
            return "a copied trade needs swap terms"
        if swap.slippage_bps > rules.slippage_bps:
            return f"slippage {swap.slippage_bps} bps is above the copy's {rules.slippage_bps}"
        if swap.priority_fee_lamports > rules.priority_fee_lamports:
            return "the priority fee is above the copy's"
        buying = self.req.asset == chains.get(self.req.chain).NATIVE.symbol
        if buying and Decimal(self.req.amount) > Decimal(rules.max_per_buy):
            return f"{self.req.amount} is above the copy's {rules.max_per_buy} per buy"
        if not buying and swap.output != chains.get(self.req.chain).NATIVE.symbol:
            return "a copied sell must sell for the chain's coin"
        return None

    def _outside_exits(self, grant: ExitGrant) -> str | None:
        """Why this is not an exit the `exits` statement allows: a sell of the position's
        token for the chain's coin, within the buy's slippage and priority fee."""
        swap, native = self.req.swap, chains.get(self.req.chain).NATIVE.symbol
        if swap is None:
            return "an exit needs swap terms"
        if self.req.chain != grant.chain:
            return f"an exit of a {grant.chain} position trades on {grant.chain}"
        if self.req.asset != grant.symbol or swap.output != native:
            return f"an exit sells {grant.symbol} for {native}, nothing else"
        if swap.slippage_bps > grant.slippage_bps:
            return f"slippage {swap.slippage_bps} bps is above the position's {grant.slippage_bps}"
        if swap.priority_fee_lamports > grant.priority_fee_lamports:
            return "the priority fee is above the position's"
        return None

    async def _fill(self) -> Fill | None:
        assert self.tx_id is not None
        try:
            return await workflow.execute_activity(
                act.TRADE_FILL,
                self.tx_id,
                result_type=Fill,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=10),
            )
        except ActivityError as exc:  # the debit stands; the fill is read again by reconcile
            workflow.logger.warning("fill of %s unread: %s", self.tx_id, exc)
            return None

    def _attributes(self) -> list[SearchAttributeUpdate[Any]]:
        """The token traded (the side that is not the chain's coin), and for a copied trade
        who copied whom: the Web UI filters on them."""
        updates: list[SearchAttributeUpdate[Any]] = []
        prepared = self.prepared
        if prepared is not None and prepared.swap is not None:
            native = chains.get(self.req.chain).NATIVE.symbol
            token = prepared.swap.output_symbol if prepared.symbol == native else prepared.symbol
            updates.append(sa.TOKEN.value_set(token))
        if self.req.copied_by is not None:
            updates += [
                sa.LEADER.value_set(self.req.copied_by.leader),
                sa.FOLLOWER.value_set(self.requester),
            ]
        return updates

    def _outcome_text(self) -> str:
        prepared = self.prepared
        fill = None
        if self.fill is not None and prepared is not None and prepared.swap is not None:
            fill = texts.fill_line(self.fill, prepared.symbol, prepared.decimals, prepared.swap)
        return texts.trade_outcome(
            self.req.request_id, self.state, self.reason, self.tx_id, fill, prepared
        )


def _parsed(payload: Any) -> Decision:
    return parsed(Decision, payload, "signed decision")


def _update_id() -> str:
    info = workflow.current_update_info()
    return info.id if info is not None else f"signal-{workflow.uuid4()}"


class StoppedWhileFrozen(Exception):
    """Waiting for an unfreeze ended: past the request's deadline (failed), or cancelled."""

    def __init__(self, state: WithdrawalState, reason: str) -> None:
        super().__init__(reason)
        self.state: WithdrawalState = state


def _kind(exc: ActivityError | ApplicationError) -> str | None:
    """The type of the ApplicationError behind a refused activity."""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    return cause.type if isinstance(cause, ApplicationError) else None


def _reason(exc: ActivityError | ApplicationError) -> str:
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    return str(cause.message) if isinstance(cause, ApplicationError) else str(cause or exc)
