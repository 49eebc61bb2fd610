"""SweepWorkflow: `sweep-{chain}-{address}-{n}`, one deposit address's credits of one asset
moved to the hot wallet, under every withdrawal rule by the same code (WithdrawalWorkflow):
reserve, sign once and persist before any broadcast, re-send only those bytes, and sign a new
version only after the earlier one is proven dead.

What differs from a withdrawal:
- Authority is a `sweep` statement about the chain (`sweeps-{chain}`), signed by an admin: a
  standing one for the automatic sweeps (threshold and schedule), or one for a sweep now.
- The workflow id must be the one its credits derive, so that the threshold trigger and the
  schedule name the same sweep: one batch of deposits is swept once.
- Nothing of the request says where the money goes or how much: `prepare_sweep` claims the
  address's uncovered credits up to `n` from the ledger and always pays the hot wallet.
- Signing derives the deposit address's key from the key store's seed, in the activity.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core import search_attributes as sa
    from core import texts
    from core.ids import sweep_id, sweeps_scope
    from core.intents import Action
    from core.models import WithdrawalRequest, WithdrawalStatus
    from workflows.withdrawal import WithdrawalWorkflow


@workflow.defn(name="SweepWorkflow")
class SweepWorkflow(WithdrawalWorkflow):
    KIND = "sweep"
    INTENT: Action = "sweep"
    PREPARE = act.PREPARE_SWEEP
    SIGN = act.SIGN_SWEEP

    @workflow.run
    async def run(self, req: WithdrawalRequest) -> WithdrawalStatus:
        return await super().run(req)

    async def _check_request(self) -> str | None:
        """A `sweep` statement about the chain, valid now, and the id its credits derive."""
        order, intent = self.req.sweep, self.req.intent
        refusal: str | None = "no signed sweep statement"
        if order is None:
            refusal = "a sweep needs its deposit address and credits"
        elif {workflow.info().workflow_id, self.req.request_id} != {
            named := sweep_id(self.req.chain, order.address, order.newest)
        }:
            refusal = f"a sweep of {order.address} up to credit {order.newest} is {named}"
        elif intent is not None:
            verdict = await self._verify(
                self.INTENT, intent, {"chain": self.req.chain}, sweeps_scope(self.req.chain)
            )
            refusal = verdict.reason
            if verdict.ok and verdict.identity is not None:
                self.requester = verdict.identity
                self.req = self.req.model_copy(update={"requested_by": verdict.identity})
        await self._audit(self.INTENT, "start", intent, refusal)
        return refusal

    def _attributes(self) -> list[SearchAttributeUpdate[Any]]:
        """The deposit address and its customer, for the Web UI (the destination is always
        the hot wallet, so it is not what anyone searches by)."""
        if self.prepared is None or self.prepared.sweep is None:
            return []
        return [
            sa.ADDRESS.value_set(self.prepared.sweep.address),
            sa.CUSTOMER.value_set(self.prepared.sweep.customer),
        ]

    def _outcome_text(self) -> str:
        return texts.sweep_outcome(
            self.req.request_id, self.state, self.reason, self.tx_id, self.prepared
        )
