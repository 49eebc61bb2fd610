"""PolicyWorkflow: one long-running workflow per chain, `policy-{chain}`, the only writer of
the chain's hot-wallet policy (store/policy.py): the freeze flag and the allowlist.

The rules, in the order they apply to each change (`freeze`, `unfreeze`, `allow`, `disallow`,
all updates):
1. The validator refuses only what is malformed: not a signed statement, or an allowlist
   change without a valid address of this chain.
2. The statement is verified here, against the roster as it is now: signed by an admin, for
   this workflow and these parameters, unexpired, never used before. A refusal is audited
   and returned to the caller; nothing is written.
3. A verified change is written with its audit row in one statement. Reserving, signing and
   broadcasting read the flag there, so it holds even while this workflow is not running.
Changes apply one at a time, in the order they arrive. The workflow continues as new every
few hundred changes, carrying the nonces of statements that have not expired yet.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core.errors import InvalidInput
    from core.intents import Roster, verify
    from core.models import (
        AuditEntry,
        PolicyAction,
        PolicyChange,
        PolicyOutcome,
        PolicyState,
        PolicyWrite,
    )
    from workflows.steps import local, parsed

CHANGES_PER_RUN = 500  # then continue as new: the history stays short


@workflow.defn(name="PolicyWorkflow")
class PolicyWorkflow:
    @workflow.init
    def __init__(self, state: PolicyState) -> None:
        self.chain = state.chain
        self.frozen = state.frozen
        self.nonces = dict(state.nonces)
        self.changes = 0
        self.one_at_a_time = asyncio.Lock()

    @workflow.run
    async def run(self, state: PolicyState) -> None:
        await workflow.wait_condition(
            lambda: (
                self.changes >= CHANGES_PER_RUN or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        now = int(workflow.now().timestamp())
        live = {nonce: expiry for nonce, expiry in self.nonces.items() if expiry > now}
        workflow.continue_as_new(PolicyState(chain=self.chain, frozen=self.frozen, nonces=live))

    @workflow.update
    async def freeze(self, change: Any) -> PolicyOutcome:
        return await self._apply("freeze", PolicyChange.model_validate(change))

    @freeze.validator
    def _freeze_valid(self, change: Any) -> None:
        self._parsed("freeze", change)

    @workflow.update
    async def unfreeze(self, change: Any) -> PolicyOutcome:
        return await self._apply("unfreeze", PolicyChange.model_validate(change))

    @unfreeze.validator
    def _unfreeze_valid(self, change: Any) -> None:
        self._parsed("unfreeze", change)

    @workflow.update
    async def allow(self, change: Any) -> PolicyOutcome:
        return await self._apply("allow", PolicyChange.model_validate(change))

    @allow.validator
    def _allow_valid(self, change: Any) -> None:
        self._parsed("allow", change)

    @workflow.update
    async def disallow(self, change: Any) -> PolicyOutcome:
        return await self._apply("disallow", PolicyChange.model_validate(change))

    @disallow.validator
    def _disallow_valid(self, change: Any) -> None:
        self._parsed("disallow", change)

    @workflow.query
    def status(self) -> PolicyState:
        return PolicyState(chain=self.chain, frozen=self.frozen)

    async def _apply(self, action: PolicyAction, change: PolicyChange) -> PolicyOutcome:
        async with self.one_at_a_time:
            self.changes += 1
            statement = change.intent.intent
            roster = await local(act.LOAD_ROSTER, Roster)
            verdict = verify(
                change.intent,
                roster,
                action=action,
                workflow_id=workflow.info().workflow_id,
                params=change.params(),
                now=int(workflow.now().timestamp()),
                seen_nonces=self.nonces,
            )
            entry = AuditEntry(
                actor=verdict.identity or statement.on_behalf_of or statement.principal,
                principal=statement.principal,
                action=f"policy.{action}",
                subject=f"policy:{self.chain}" + (f":{change.address}" if change.address else ""),
                outcome="refused" if not verdict.ok else "changed",
                reason=verdict.reason if not verdict.ok else change.reason,
                key=f"{workflow.info().workflow_id}:{_update_id()}",
            )
            if not verdict.ok:
                await local(act.AUDIT, type(None), entry)
                return PolicyOutcome(outcome="refused", reason=verdict.reason)
            self.nonces[statement.nonce] = statement.expires_at
            write = PolicyWrite(
                chain=self.chain,
                action=action,
                address=change.address,
                reason=change.reason,
                audit=entry,
            )
            outcome = await local(act.SET_POLICY, PolicyOutcome, write)
            if action in ("freeze", "unfreeze"):
                self.frozen = action == "freeze"
            return outcome

    def _parsed(self, action: PolicyAction, payload: Any) -> None:
        """ValueError (the update is rejected, nothing recorded) if `payload` is malformed."""
        change = parsed(PolicyChange, payload, "signed policy change")
        if action in ("allow", "disallow"):
            if change.address is None:
                raise ValueError(f"{action} needs the destination address")
            try:
                canonical = chains.get(self.chain).normalize_address(change.address)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
            if canonical != change.address:
                raise ValueError(f"{action}: give the address in its canonical form {canonical}")
        elif change.address is not None:
            raise ValueError(f"{action} takes no address")


def _update_id() -> str:
    info = workflow.current_update_info()
    assert info is not None  # every change is an update
    return info.id
