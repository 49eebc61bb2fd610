"""ChainWatchWorkflow, `watch-{chain task queue}`: the cheap trigger that keeps idle wallets cheap.

One per chain, whatever the number of wallets. It runs the chain's `watch_chain` activity in
rounds of a few minutes: the activity checks every watched wallet in batches (Solana) or scans
each solidified block (TRON) and pokes the monitor workflows that changed. Monitors still
reconcile on their own slow timer, so a trigger outage delays events but never loses them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core.models import WatchResult, WatchState
    from workflows.steps import ROUNDS_PER_RUN, round_of


@workflow.defn(name="ChainWatchWorkflow")
class ChainWatchWorkflow:
    @workflow.run
    async def run(self, state: WatchState) -> None:
        while state.rounds < ROUNDS_PER_RUN:
            result = await round_of(act.WATCH_CHAIN, state, WatchResult, state.round_seconds)
            state.position = result.position
            state.rounds += 1
        workflow.continue_as_new(
            WatchState(
                chain=state.chain, position=state.position, round_seconds=state.round_seconds
            )
        )
