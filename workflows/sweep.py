"""SweepWorkflow: `sweep-{chain}-{address}-{n}`, one deposit address's credits of one asset
moved to the hot wallet, under every withdrawal rule by the same code (WithdrawalWorkflow):
reserve, sign once and persist before any broadcast, re-send only those bytes, and sign a new
version only after the earlier one is proven dead.

What differs from a withdrawal:
- Authority is a `sweep` statement about the chain (`sweeps-{chain}`), signed by an admin: a
  standing one for the automatic sweeps (threshold and schedule), or one for a sweep now.
- The workflow id must be the one its credits derive, so that the threshold trigger and the
  schedule name the same sweep: one batch of deposits is swept once. Credits that an
  attempt gave back (it moved nothing) are swept by the next attempt, `…-try2`.
- Nothing of the request says where the money goes or how much: `prepare_sweep` claims the
  address's uncovered credits up to `n` from the ledger and always pays the hot wallet.
- Signing derives the deposit address's key from the key store's seed, in the activity.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    import chains
    from core import activity_names as act
    from core import search_attributes as sa
    from core import texts
    from core.amounts import from_base_units, plain
    from core.ids import sweep_request_id, sweeps_scope
    from core.intents import Action
    from core.models import (
        SweepOrder,
        SweepStep,
        WithdrawalRequest,
        WithdrawalState,
        WithdrawalStatus,
    )
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

    @workflow.init
    def __init__(self, req: WithdrawalRequest) -> None:
        super().__init__(req)
        self.lent = 0  # sun of the hot wallet's stake whose energy the address holds now

    async def _check_request(self) -> str | None:
        """A `sweep` statement about the chain, valid now, and the id its credits derive; a
        step also runs as a child of the sweep it serves."""
        order, intent = self.req.sweep, self.req.intent
        refusal: str | None = "no signed sweep statement"
        own = workflow.info().workflow_id
        if order is None:
            refusal = "a sweep needs its deposit address and credits"
        elif own != self.req.request_id or own != self._named(order):
            refusal = (
                f"a sweep of {order.address} up to credit {order.newest} is {self._named(order)}"
            )
        elif order.step is not None and self._parent() != self._named(order, step=False):
            refusal = f"a sweep's {order.step.kind} step must be started by its sweep"
        elif order.step is not None and order.step.kind == "undelegate":
            # Taking the hot wallet's energy back from the address moves nothing out, and must
            # not wait on a statement that may have expired or been revoked meanwhile.
            refusal = None
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

    def _named(self, order: SweepOrder, *, step: bool = True) -> str:
        """The id `order` derives: its credits and attempt, and its step unless `step` is
        False (the sweep a step serves)."""
        named = sweep_request_id(self.req.chain, order.address, order.newest, order.attempt)
        return named if order.step is None or not step else f"{named}-{order.step.kind}"

    def _parent(self) -> str | None:
        parent = workflow.info().parent
        return parent.workflow_id if parent is not None else None

    async def _before_signing(self) -> str | None:
        """The address's steps (TRON: activation, energy lent or TRX to burn), each its own
        move, in order; the sweep is signed only once they all landed."""
        assert self.prepared is not None and self.prepared.sweep is not None
        for step in self.prepared.sweep.steps:
            landed, why = await self._step(step)
            if step.kind == "delegate" and landed is not False:  # lent, or maybe: take it back
                self.lent = step.amount
            if landed is False and step.fallback:  # the stake went elsewhere: buy the energy
                step = SweepStep(kind="buy", amount=step.fallback)
                landed, why = await self._step(step)
            if not landed:
                return f"its {step.kind} step {why}"
        return None

    async def _still_authorized(self) -> str | None:
        """Taking energy back needs no statement (see _check_request); anything else does."""
        order = self.req.sweep
        if order is not None and order.step is not None and order.step.kind == "undelegate":
            return None
        return await super()._still_authorized()

    async def _step(self, step: SweepStep) -> tuple[bool | None, str]:
        """Run one step as a child move: (landed; None when unknown, why not)."""
        try:
            done = await self._start_step(step)
        except ChildWorkflowError as exc:  # terminated, or failed: nobody knows
            return None, f"ended without an outcome: {exc.cause or exc}"
        return done.status == "confirmed", f"ended {done.status}: {done.reason}"

    async def _start_step(self, step: SweepStep) -> WithdrawalStatus:
        assert self.req.sweep is not None
        order = self.req.sweep.model_copy(update={"step": step})
        coin = chains.get(self.req.chain).NATIVE
        child = self.req.model_copy(
            update={
                "request_id": f"{self.req.request_id}-{step.kind}",
                "asset": coin.symbol,
                "amount": plain(from_base_units(step.amount, coin.decimals)),
                "notify_chat": None,
                "sweep": order,
            }
        )
        return await workflow.execute_child_workflow(SweepWorkflow.run, child, id=child.request_id)

    async def _finish(
        self, state: WithdrawalState, reason: str | None, ledger: str | None = None
    ) -> WithdrawalStatus:
        """Lent energy goes back once the sweep is decided (confirmed means solidified), so no
        stake stays lent to a deposit address."""
        if self.lent:
            lent, self.lent = self.lent, 0
            back, why = await self._step(SweepStep(kind="undelegate", amount=lent))
            if not back:
                reason = f"{reason or state}; the energy lent may not be back: undelegate {why}"
        return await super()._finish(state, reason, ledger)

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
        return texts.withdrawal_outcome(
            self.req.request_id, self.state, self.reason, self.tx_id, self.prepared, "Sweep"
        )
