"""DepositAddressWorkflow: `deposit-address-{chain}-{customer}`, the customer's deposit address
derived on the chain's worker, where the key store's seed is (the CLI never holds it). The
ledger makes it idempotent: the same customer always gets the same address."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core.models import DepositAddress, DepositAddressRequest


@workflow.defn(name="DepositAddressWorkflow")
class DepositAddressWorkflow:
    @workflow.run
    async def run(self, req: DepositAddressRequest) -> DepositAddress:
        return await workflow.execute_activity(
            act.ASSIGN_DEPOSIT_ADDRESS,
            req,
            result_type=DepositAddress,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                maximum_interval=timedelta(seconds=10), non_retryable_error_types=["InvalidInput"]
            ),
        )
