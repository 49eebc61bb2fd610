"""Deposit addresses, credits and sweeps (workflows/sweep.py has the rules).

- A deposit address derives from the key store's seed at the customer's index; the seed and
  the derived keys are read here only, never passed on.
- Credits come from the monitor's final events (`credit`, called by `fetch_events`): once per
  transfer, dust below the asset's minimum left out. Credits that reach the asset's threshold
  start their sweep at once, under the chain's standing `sweep` statement.
- A sweep moves what the ledger credited, never what a request says, to the hot wallet.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

import chains
from activities.keystore import KeyStore
from activities.withdraw import (
    ChainSender,
    Fuel,
    InsufficientFunds,
    WithdrawalActivities,
    refuse,
)
from core import activity_names as act
from core.amounts import from_base_units, plain
from core.assets import Asset
from core.errors import UserError
from core.ids import sweep_id, sweep_request_id
from core.intents import SignedIntent
from core.models import (
    FINAL_STATES,
    DepositAddress,
    DepositAddressRequest,
    Difference,
    PreparedWithdrawal,
    ReconcileReport,
    ReconcileRequest,
    SignedVersion,
    SignRequest,
    SweepOrder,
    SweepSource,
    WalletEvent,
    WithdrawalRequest,
)
from store import deposits as repo
from store import withdrawals as moves


@dataclass
class DepositRules:
    """By asset id, in base units: credits below `minimums` are dust; uncovered credits at
    or above `thresholds` are swept at once (an asset without one waits for `walletflow
    sweep` or the schedule)."""

    minimums: dict[str, int] = field(default_factory=dict)
    thresholds: dict[str, int] = field(default_factory=dict)


def sweep_request(
    found: repo.Uncovered, intent: SignedIntent | None, notify_queue: str, attempt: int = 1
) -> WithdrawalRequest:
    """The request of the sweep of `found`: named after its newest credit."""
    return WithdrawalRequest(
        request_id=sweep_request_id(found.chain, found.address, found.newest, attempt),
        chain=found.chain,
        asset=found.asset,
        to=found.address,
        amount=plain(from_base_units(found.total, found.decimals)),
        requested_by="sweeps",
        notify_queue=notify_queue,
        intent=intent,
        sweep=SweepOrder(address=found.address, newest=found.newest, attempt=attempt),
    )


async def start_sweep(
    client: Client,
    pool: asyncpg.Pool,
    found: repo.Uncovered,
    intent: SignedIntent | None,
    *,
    task_queue: str,
    notify_queue: str,
) -> str:
    """Start the sweep of `found`, or find it running; its id. The id is derived, so a second
    start of the same credits (trigger, schedule, operator) while it runs is that same sweep.
    Credits uncovered again (an attempt ended without moving them) start the next attempt,
    `…-try2` (`sweep_attempt`); an attempt refused before it registered runs again."""
    attempt = await repo.sweep_attempt(pool, sweep_id(found.chain, found.address, found.newest))
    req = sweep_request(found, intent, notify_queue, attempt)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            "SweepWorkflow",
            req,
            id=req.request_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    return req.request_id


class SweepActivities:
    """The chain queue's deposit and sweep activities (its sender signs)."""

    def __init__(
        self,
        withdraw: WithdrawalActivities,
        keys: KeyStore,
        rules: DepositRules,
        client: Client,
        *,
        task_queue: str,
        notify_queue: str,
    ) -> None:
        self.withdraw = withdraw
        self.sender: ChainSender = withdraw.sender
        self.pool: asyncpg.Pool = withdraw.pool
        self.keys = keys
        self.rules = rules
        self.client = client
        self.task_queue = task_queue
        self.notify_queue = notify_queue

    def _derive(self, index: int) -> tuple[str, str]:
        try:
            seed = self.keys.deposit_seed()
        except UserError as exc:  # a setting to fix: retrying won't help
            raise refuse("InvalidInput", str(exc)) from None
        return chains.get(self.sender.chain).deposit_key(seed, index)

    @activity.defn(name=act.ASSIGN_DEPOSIT_ADDRESS)
    async def assign_deposit_address(self, req: DepositAddressRequest) -> DepositAddress:
        """The customer's address on this chain: derived once, read back after."""
        address, index = await repo.assign(
            self.pool, req.chain, req.customer, lambda i: self._derive(i)[0]
        )
        return DepositAddress(chain=req.chain, customer=req.customer, address=address, index=index)

    async def credit(self, events: list[WalletEvent]) -> None:
        """Credit final deposits (the monitor calls this after ledgering them) and start the
        sweeps their credits make due."""
        await self._start_due(await repo.credit(self.pool, events, self.rules.minimums))

    async def _start_due(self, found: list[repo.Uncovered]) -> int:
        """Start the sweeps of `found` that reach their asset's threshold, under the chain's
        standing statement; how many (none without a statement: logged)."""
        due = [f for f in found if f.total >= self.rules.thresholds.get(f.asset, f.total + 1)]
        if due:
            busy = await repo.sweeps_in_flight(self.pool, self.sender.chain)
            due = [f for f in due if f.address not in busy]
        if not due:
            return 0
        statement = await repo.authority(self.pool, self.sender.chain)
        if statement is None:
            activity.logger.warning(
                "%d sweeps due on %s but no standing sweep statement: "
                "`walletflow sweeps authorize %s`",
                len(due),
                self.sender.chain,
                self.sender.chain,
            )
            return 0
        intent = SignedIntent.model_validate(statement)
        for one in due:
            await start_sweep(
                self.client,
                self.pool,
                one,
                intent,
                task_queue=self.task_queue,
                notify_queue=self.notify_queue,
            )
        return len(due)

    @activity.defn(name=act.START_DUE_SWEEPS)
    async def start_due_sweeps(self, req: ReconcileRequest) -> int:
        """The schedule's catch-up: every address's credits at their threshold, swept."""
        return await self._start_due(await repo.uncovered(self.pool, req.chain))

    @activity.defn(name=act.RECONCILE_DEPOSITS)
    async def reconcile_deposits(self, req: ReconcileRequest) -> ReconcileReport:
        """Each deposit address's holdings by the ledger against the chain's final data. A
        pair whose sweep is not decided yet is skipped (the chain may be ahead of the ledger);
        a difference is recorded and reported, never fixed. More on chain than expected is
        dust or what a sweep's steps left (1 sun of activation, a top-up's margin); less is
        money to look for."""
        held = await repo.holdings(self.pool, req.chain)
        settled = [h for h in held if not h.in_flight]
        differences: list[tuple[repo.Holding, int]] = []
        for asset_id in sorted({h.asset for h in settled}):
            asset = self.sender.tokens.by_id(asset_id) or self.sender.tokens.by_symbol(asset_id)
            group = [h for h in settled if h.asset == asset_id]
            if asset is None:  # delisted since: nothing to compare with
                continue
            actual = await self.sender.balances(asset, [h.address for h in group])
            activity.heartbeat(asset.symbol)
            differences += [(h, a) for h, a in zip(group, actual, strict=True) if a != h.expected]
        info = activity.info()
        run_id = f"{info.workflow_id}:{info.workflow_run_id}"
        in_flight = len(held) - len(settled)
        await repo.save_reconciliation(
            self.pool, run_id, req.chain, len(settled), in_flight, differences
        )
        return ReconcileReport(
            run_id=run_id,
            chain=req.chain,
            checked=len(settled),
            in_flight=in_flight,
            differences=[
                Difference(
                    address=h.address,
                    customer=h.customer,
                    symbol=h.symbol,
                    decimals=h.decimals,
                    expected=h.expected,
                    actual=actual,
                )
                for h, actual in differences
            ],
        )

    @activity.defn(name=act.PREPARE_SWEEP)
    async def prepare_sweep(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        """Claim the address's uncovered credits up to the order's newest; the sweep moves
        their sum (less what the chain burns, see the senders' `sweep_amount`) to the hot
        wallet. Nothing of the request but the address, asset and `newest` counts."""
        order = req.sweep
        if order is None:
            raise refuse("InvalidInput", "a sweep needs its deposit address and credits")
        owner = await repo.owner(self.pool, req.chain, order.address)
        if owner is None:
            raise refuse("InvalidInput", f"{order.address} is not a deposit address")
        if order.step is not None:
            return await self._prepare_step(req, order, owner)
        asset = self.sender.tokens.by_id(req.asset) or self.sender.tokens.by_symbol(req.asset)
        if asset is None:
            raise refuse("InvalidInput", f"{req.asset} is not a listed asset on {req.chain}")
        if req.request_id != sweep_request_id(
            req.chain, order.address, order.newest, order.attempt
        ):
            raise refuse("InvalidInput", "a sweep's request id names its credits and attempt")
        newest = await repo.credit_of(self.pool, order.newest)
        if newest is None or (newest["address"], newest["asset"]) != (order.address, asset.id):
            raise refuse(
                "InvalidInput", f"credit {order.newest} is not {asset.symbol} at {order.address}"
            )
        earlier = await repo.sweep_status(self.pool, req.request_id)
        if earlier in FINAL_STATES:  # Temporal no longer retains that sweep: the ledger does
            raise refuse("InvalidInput", f"{req.request_id} was {earlier} before")
        # One sweep of an address at a time: a second would count the first one's balance,
        # energy or dust as its own (the schedule starts it later). Two started together may
        # both pass this before either registers; the fuel a sweep burns never counts the
        # other's coin, though (`Fuel`: credits covered by a sweep still deciding are owed).
        running = (await repo.sweeps_in_flight(self.pool, req.chain)).get(order.address)
        if running is not None and running != req.request_id:
            raise refuse("InvalidInput", f"{running} of the same address is in flight")
        credited = await repo.cover(
            self.pool, req.request_id, req.chain, order.address, asset.id, order.newest
        )
        if credited == 0:
            raise refuse(
                "InvalidInput", f"nothing to sweep at {order.address} up to {order.newest}"
            )
        try:
            amount, close = await self.sender.sweep_amount(asset, order.address, credited)
        except InsufficientFunds as exc:
            # Refused before the sweep is registered: no row will give the credits back.
            await repo.uncover(self.pool, req.request_id)
            raise refuse("InsufficientFunds", str(exc)) from None
        try:
            pending = await repo.loans_in_flight(self.pool, req.chain)
            coin = self.sender.tokens.native.id
            fuel = Fuel(
                unspent=await repo.unspent_fuel(self.pool, req.chain, order.address, coin),
                owed=await repo.owed(self.pool, req.chain, order.address, coin),
            )
            steps = await self.sender.sweep_steps(asset, order.address, amount, pending, fuel)
        except InsufficientFunds as exc:
            await repo.uncover(self.pool, req.request_id)
            raise refuse("InsufficientFunds", str(exc)) from None
        prepared = PreparedWithdrawal(
            asset_id=asset.id,
            symbol=asset.symbol,
            decimals=asset.decimals,
            program=asset.program,
            to=self.sender.hot_wallet(),
            amount=amount,
            hot_wallet=order.address,  # where the money leaves from
            approval_required=False,
            max_versions=self.withdraw.policy.max_versions,
            searchable_destination=False,  # the hot wallet; the sweep publishes its address
            sweep=SweepSource(
                address=order.address,
                customer=owner["customer"],
                index=owner["idx"],
                newest=order.newest,
                close=close,
                steps=steps,
            ),
        )
        await moves.register(self.pool, req, prepared)
        return prepared

    async def _prepare_step(
        self, req: WithdrawalRequest, order: SweepOrder, owner: asyncpg.Record
    ) -> PreparedWithdrawal:
        """One of a sweep's steps: the hot wallet's move for the deposit address (TRX to it,
        or its stake's energy lent or taken back). A move of its own, under the same rules."""
        assert order.step is not None
        parent = sweep_request_id(req.chain, order.address, order.newest, order.attempt)
        if req.request_id != f"{parent}-{order.step.kind}":
            raise refuse("InvalidInput", f"a step of {parent} is {parent}-{order.step.kind}")
        coin = self.sender.tokens.native
        prepared = PreparedWithdrawal(
            asset_id=coin.id,
            symbol=coin.symbol,
            decimals=coin.decimals,
            to=order.address,
            amount=order.step.amount,
            hot_wallet=self.sender.hot_wallet(),
            approval_required=False,
            # A loan refused (the stake went to other sweeps) is not signed again: the sweep
            # buys the energy instead (SweepStep.fallback).
            max_versions=1 if order.step.fallback else self.withdraw.policy.max_versions,
            searchable_destination=False,
            sweep=SweepSource(
                address=order.address,
                customer=owner["customer"],
                index=owner["idx"],
                newest=order.newest,
                step=order.step,
            ),
        )
        await moves.register(self.pool, req, prepared)
        return prepared

    @activity.defn(name=act.SIGN_SWEEP)
    async def sign_sweep(self, req: SignRequest) -> SignedVersion:
        """Version `req.version` of the sweep, signed once by the derived key."""
        prepared = req.prepared
        source = prepared.sweep
        if source is None:
            raise refuse("InvalidInput", "not a sweep")
        asset = Asset(
            symbol=prepared.symbol,
            decimals=prepared.decimals,
            id=prepared.asset_id,
            program=prepared.program,
        )

        async def make() -> tuple[bytes, str, int]:
            if source.step is not None:  # the hot wallet's move: no deposit key needed
                return await self.sender.sign_sweep_step(source.step, source.address)
            address, secret = self._derive(source.index)
            if address != source.address:  # another seed than the one that made the address
                raise refuse(
                    "InvalidInput",
                    f"the deposit seed does not derive {source.address} at index {source.index}",
                )
            return await self.sender.sign_sweep(asset, secret, prepared.amount, source.close)

        return await self.withdraw.sign_once(req, make)
