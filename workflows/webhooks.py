"""WebhookDeliveryWorkflow: one per endpoint, `webhooks-{endpoint_id}`, on the notify queue.

It runs the endpoint's delivery loop (`deliver_webhooks`, a long heartbeating activity) in
rounds, so that its history grows with rounds, not with events; it ends once the endpoint is
removed. What is delivered, retried or dead-lettered is the loop's, in Postgres.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core.webhooks import DeliveryResult, DeliveryState
    from workflows.steps import ROUNDS_PER_RUN, round_of


@workflow.defn(name="WebhookDeliveryWorkflow")
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, state: DeliveryState) -> None:
        while state.rounds < ROUNDS_PER_RUN:
            result = await round_of(act.DELIVER_WEBHOOKS, state, DeliveryResult,
                                    state.round_seconds)  # fmt: skip
            if result.ended:
                return
            state.rounds += 1
            state.failures, state.opened = result.failures, result.opened
        workflow.continue_as_new(
            DeliveryState(
                endpoint_id=state.endpoint_id,
                round_seconds=state.round_seconds,
                failures=state.failures,
                opened=state.opened,
            )
        )
