"""ChainPushWorkflow, `push-{chain task queue}`: early detection, one per chain.

It runs the chain's `follow_chain` activity in long rounds: the activity holds the chain's
push channel (Solana WebSocket subscriptions, TRON head blocks) and signals `seen` to the
monitors of wallets with news that is not final yet. Its heartbeat details are the health of
each shard (connection). Nothing depends on it for correctness: without it alerts arrive at
finality, as the trigger and the monitors' cursors find them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core.models import PushResult, PushState
    from workflows.steps import ROUNDS_PER_RUN, round_of


@workflow.defn(name="ChainPushWorkflow")
class ChainPushWorkflow:
    @workflow.run
    async def run(self, state: PushState) -> None:
        while state.rounds < ROUNDS_PER_RUN:
            await round_of(act.FOLLOW_CHAIN, state, PushResult, state.round_seconds)
            state.rounds += 1
        workflow.continue_as_new(PushState(chain=state.chain, round_seconds=state.round_seconds))
