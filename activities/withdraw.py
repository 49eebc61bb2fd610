"""Withdrawal activities: validate, reserve, sign, send and settle.

Chain-neutral: the worker of each chain's task queue injects that chain's `ChainSender`
(activities/<chain>/adapters.py). The money rules live here and in
workflows/withdrawal.py:
- every write is idempotent by request id (and version): activities are retried;
- a version is signed once and persisted before any broadcast; a retried sign returns it;
- a broadcast error means "unknown", never "not sent": `send_and_confirm` re-sends the same
  bytes and watches the chain until the version is confirmed, failed on chain, or provably
  dead (its expiry passed on finalized/solidified data and its id is not on chain).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

import chains
from activities import metrics
from activities.heartbeat import heartbeating
from activities.prices import UsdPricer, Valuer
from core import activity_names as act
from core.amounts import from_base_units
from core.assets import Asset, TokenList
from core.errors import InvalidInput
from core.models import (
    FINAL_STATES,
    LedgerChange,
    PreparedWithdrawal,
    SendOutcome,
    SignedVersion,
    SignRequest,
    SweepStep,
    WithdrawalRequest,
)
from core.texts import usd
from store import policy as policy_repo
from store import withdrawals as repo

# "landed": in a block, not final yet (a chain that can tell); re-sending it is pointless.
Check = Literal["confirmed", "failed", "pending", "landed", "expired"]


class InsufficientFunds(Exception):
    pass


@dataclass(frozen=True)
class Fuel:
    """The native coin at a deposit address, by the ledger: `unspent`, what the hot wallet
    sent there for earlier attempts and nothing used (a sweep may burn it); `owed`, the
    customer's credits not swept yet (never burned)."""

    unspent: int = 0
    owed: int = 0

    def spendable(self, balance: int) -> int:
        """What of `balance` a sweep may burn (less if some fuel was burned meanwhile)."""
        return max(0, min(self.unspent, balance - self.owed))


class ChainSender(Protocol):
    """One chain's signing, broadcasting and confirmation, against the hot wallet."""

    chain: str
    tokens: TokenList
    poll_seconds: float  # how often send_and_confirm looks
    resend_seconds: float  # how often it re-sends bytes the chain has not shown in a block yet

    def hot_wallet(self) -> str: ...

    async def check_destination(self, asset: Asset, to: str) -> None:
        """Raise InvalidInput (one line) if `to` must not receive `asset`: the hot wallet, a
        token account or mint, a token contract, a program (see chains/<chain>/destinations)."""
        ...

    async def check_funds(self, asset: Asset, to: str, amount: int) -> None:
        """Raise InsufficientFunds (with the reason) if the hot wallet can't pay it all."""
        ...

    async def sign(self, asset: Asset, to: str, amount: int) -> tuple[bytes, str, int]:
        """A signed transfer: (exact bytes, transaction id, expiry bound)."""
        ...

    async def sweep_amount(self, asset: Asset, source: str, credited: int) -> tuple[int, bool]:
        """What a sweep of `credited` base units from deposit address `source` moves, and
        whether it empties (and closes) a token account. InsufficientFunds if `source` holds
        less, or the hot wallet can't pay what the sweep costs it."""
        ...

    async def sign_sweep(
        self, asset: Asset, source_secret: str, amount: int, close: bool
    ) -> tuple[bytes, str, int]:
        """A signed sweep to the hot wallet, by the deposit address's key (and the hot wallet's
        where it pays the fee): (exact bytes, transaction id, expiry bound)."""
        ...

    async def balances(self, asset: Asset, owners: list[str]) -> list[int]:
        """What each owner holds of `asset` (base units) on final data, in order."""
        ...

    async def sweep_steps(
        self, asset: Asset, source: str, amount: int, pending_loans: int, fuel: Fuel
    ) -> list[SweepStep]:
        """What `source` needs from the hot wallet before it can send `amount` (a chain whose
        fee payer can be another account needs nothing). `pending_loans`: stake other sweeps
        are about to lend, not lendable again. `fuel`: what of the native coin at `source` a
        sweep may burn."""
        ...

    async def sign_sweep_step(self, step: SweepStep, deposit: str) -> tuple[bytes, str, int]:
        """The hot wallet's signed transaction doing `step` for deposit address `deposit`."""
        ...

    async def broadcast(self, raw: bytes) -> str | None:
        """Send the bytes; None if a node took them (or already had them), else its refusal.
        Raises on transport errors: the caller treats every outcome as "unknown"."""
        ...

    async def check(self, tx_id: str, expiry: int) -> tuple[Check, str | None]:
        """Where the transaction stands on finalized/solidified data."""
        ...


def _approvers(count: int) -> str:
    return "an approver" if count == 1 else f"{count} distinct approvers"


def _needing(prepared: PreparedWithdrawal, count: int, why: str) -> PreparedWithdrawal:
    """`prepared` needing at least `count` approvers, for `why`."""
    if prepared.approval_required and prepared.approvals_required >= count:
        return prepared
    return prepared.model_copy(
        update={"approval_required": True, "approvals_required": count, "approval_reason": why}
    )


@dataclass
class Policy:
    """Withdrawal limits in display units per asset symbol, and the worker's safety bounds."""

    approval_thresholds: dict[str, Decimal] = field(default_factory=dict)
    # Above an amount, that many distinct approvers: {"SOL": [(Decimal(100), 2)]}.
    approval_tiers: dict[str, list[tuple[Decimal, int]]] = field(default_factory=dict)
    # Rolling 24h caps on what is reserved and not released: per requester, per hot wallet.
    daily_limits: dict[str, Decimal] = field(default_factory=dict)
    hot_wallet_limits: dict[str, Decimal] = field(default_factory=dict)
    # Destinations: any (False), or only the chain's allowlist entries past their cooling-off
    # (`walletflow allowlist add`) and the addresses configured in `allowlist`.
    allowlist_enforced: bool = False
    allowlist: set[str] = field(default_factory=set)
    max_versions: int = 3  # signed versions before giving up, each proven dead first
    searchable_destination: bool = True  # False when payloads are encrypted (see the model)

    def threshold(self, symbol: str) -> Decimal | None:
        return self.approval_thresholds.get(symbol.upper())

    def tiers(self, symbol: str) -> list[tuple[Decimal, int]]:
        """(above, approvers) of an asset, or of its USD value with the symbol `USD`."""
        tiers = [(t, 1) for t in [self.threshold(symbol)] if t is not None]
        return tiers + self.approval_tiers.get(symbol.upper(), [])

    def approvals(self, symbol: str, amount: Decimal) -> tuple[int, str | None]:
        """How many distinct approvers `amount` needs, and why (the tier it is above)."""
        tiers = self.tiers(symbol)
        above = [(count, t) for t, count in tiers if amount > t]
        if not above:
            return 0, None
        count, threshold = max(above)
        return count, f"above {threshold} {symbol}: needs {_approvers(count)}"

    def limits(self, asset: Asset) -> repo.Limits:
        """The rolling limits of `asset`, in its base units."""

        def units(limits: dict[str, Decimal]) -> int | None:
            limit = limits.get(asset.symbol.upper())
            return None if limit is None else int(limit.scaleb(asset.decimals))

        return repo.Limits(
            hot_wallet=units(self.hot_wallet_limits),
            requester=units(self.daily_limits),
            usd_hot_wallet=self.hot_wallet_limits.get("USD"),
            usd_requester=self.daily_limits.get("USD"),
        )

    def values_in_usd(self) -> bool:
        """Whether any rule counts in USD (tiers or rolling limits): moves need a price."""
        return bool(self.tiers("USD")) or "USD" in self.hot_wallet_limits | self.daily_limits


def refuse(kind: str, message: str) -> ApplicationError:
    """An expected business error: the workflow stops retrying and reports `message`."""
    return ApplicationError(message, type=kind, non_retryable=True)


class WithdrawalActivities:
    def __init__(
        self,
        sender: ChainSender,
        pool: asyncpg.Pool,
        policy: Policy,
        pricer: UsdPricer | None = None,
        valuer: Valuer | None = None,
    ) -> None:
        self.sender = sender
        self.pool = pool
        self.policy = policy
        self.pricer = pricer  # values moves in USD for the `USD` tiers (fails closed)
        self.valuer = valuer  # ... and for people (best effort)

    def _asset(self, prepared: PreparedWithdrawal) -> Asset:
        return Asset(
            symbol=prepared.symbol,
            decimals=prepared.decimals,
            id=prepared.asset_id,
            program=prepared.program,
        )

    @activity.defn(name="prepare_withdrawal")
    async def prepare(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        """Validate and check policy. Nothing is reserved here: a refusal costs nothing."""
        try:
            asset, to, amount = chains.parse_transfer(
                req.chain, self.sender.tokens, req.asset, req.to, req.amount
            )
        except InvalidInput as exc:
            raise refuse("InvalidInput", str(exc)) from None
        try:
            await self.sender.check_destination(asset, to)
        except InvalidInput as exc:
            raise refuse("InvalidInput", str(exc)) from None
        await self._check_allowlist(req.chain, to)
        return await self.admit(req, self.prepared(req, asset, to, amount))

    def prepared(
        self, req: WithdrawalRequest, asset: Asset, to: str, amount: int
    ) -> PreparedWithdrawal:
        """The validated request, with the approvals the policy asks of its amount."""
        approvals, why = self.policy.approvals(asset.symbol, Decimal(req.amount))
        return PreparedWithdrawal(
            asset_id=asset.id,
            symbol=asset.symbol,
            decimals=asset.decimals,
            program=asset.program,
            to=to,
            amount=amount,
            hot_wallet=self.sender.hot_wallet(),
            approval_required=approvals > 0,
            approval_reason=why,
            approvals_required=max(approvals, 1),
            max_versions=self.policy.max_versions,
            searchable_destination=self.policy.searchable_destination,
        )

    async def _usd_policy(
        self, req: WithdrawalRequest, prepared: PreparedWithdrawal
    ) -> PreparedWithdrawal:
        """The USD rules: the approvals the `USD` tiers ask of the move's value, and the USD
        rolling limits. The value must be confirmed (UsdPricer); when it is not, the move
        needs the highest USD tier's approvers (one without tiers): an unknown value never
        lets money through on its own."""
        tiers = self.policy.tiers("USD")
        if not self.policy.values_in_usd() or self.pricer is None:
            return prepared
        amount = from_base_units(prepared.amount, prepared.decimals)
        value = await self.pricer.value(req.chain, self._asset(prepared), amount)
        if value.usd is None:
            count = max((c for _, c in tiers), default=1)
            why = f"USD value unconfirmed ({value.why}): needs {_approvers(count)}"
            return _needing(prepared, count, why)
        prepared = prepared.model_copy(update={"usd_value": str(value.usd)})
        limits = self.policy.limits(self._asset(prepared))
        if limits.usd_hot_wallet is not None or limits.usd_requester is not None:
            hot, requester = await repo.usd_used(self.pool, req, prepared, limits.window)
            over = repo.over_usd_limit(limits, value.usd, hot, requester)
            if over is not None:
                raise refuse("PolicyViolation", f"over {over} (≈ {usd(value.usd)})")
        above = [(c, t) for t, c in tiers if value.usd > t]
        if not above:
            return prepared
        count, threshold = max(above)
        why = f"≈ {usd(value.usd)}, above ${threshold}: needs {_approvers(count)}"
        return _needing(prepared, count, why)

    async def admit(
        self, req: WithdrawalRequest, prepared: PreparedWithdrawal
    ) -> PreparedWithdrawal:
        """The checks every money move passes before it is registered: the rolling limits,
        the hot wallet's funds, and a request id never used before."""
        await self._check_limits(req, prepared)
        prepared = await self._usd_policy(req, prepared)
        if self.valuer is not None:
            amount = from_base_units(prepared.amount, prepared.decimals)
            worth = await self.valuer.value(req.chain, self._asset(prepared), amount)
            shown = prepared.usd_value or (worth.value if worth is not None else None)
            prepared = prepared.model_copy(update={"usd": worth, "usd_value": shown})
        try:
            await self.sender.check_funds(self._asset(prepared), prepared.to, prepared.amount)
        except InsufficientFunds as exc:
            raise refuse("InsufficientFunds", str(exc)) from None
        # Temporal refuses a second `withdrawal-{request_id}` only while it retains the first.
        # A row in a final state is that earlier withdrawal: refuse. Any other is this one's.
        earlier = await repo.register(self.pool, req, prepared)
        if earlier in FINAL_STATES:
            kind = "trade" if prepared.swap is not None else "withdrawal"
            raise refuse(
                "InvalidInput",
                f"request id {req.request_id} was used before: that {kind} is {earlier}",
            )
        return prepared

    async def _check_allowlist(self, chain: str, to: str) -> None:
        refusal = await policy_repo.allowlist_refusal(
            self.pool, chain, to, self.policy.allowlist_enforced, self.policy.allowlist
        )
        if refusal is not None:
            raise refuse("PolicyViolation", refusal)

    async def _check_limits(self, req: WithdrawalRequest, prepared: PreparedWithdrawal) -> None:
        """Refuse early what the limits would refuse now; `reserve` decides, atomically."""
        limits = self.policy.limits(self._asset(prepared))
        if limits.hot_wallet is None and limits.requester is None:
            return
        hot, requester = await repo.used(self.pool, req, prepared, limits.window)
        over = repo.over_limit(limits, prepared.amount, hot, requester)
        if over is not None:
            raise refuse("PolicyViolation", f"over {over} for {prepared.symbol}")

    @activity.defn(name="reserve_withdrawal")
    async def reserve(self, req: WithdrawalRequest, prepared: PreparedWithdrawal) -> None:
        """Reserve within the rolling limits; refused while the chain is frozen (`Frozen`:
        the workflow waits and asks again)."""
        # The rolling limits cap what leaves for others; a sweep only fills the hot wallet.
        limits = repo.Limits() if prepared.sweep else self.policy.limits(self._asset(prepared))
        try:
            await repo.reserve(self.pool, req, prepared, limits)
        except repo.LimitExceeded as exc:
            raise refuse("PolicyViolation", f"over {exc}") from None
        except repo.ReservationClosed as exc:
            raise refuse("InvalidInput", str(exc)) from None
        except repo.Frozen as exc:
            raise refuse("Frozen", str(exc)) from None

    @activity.defn(name="sign_withdrawal")
    async def sign(self, req: SignRequest) -> SignedVersion:
        """Sign version `req.version` once; a retry returns the version already persisted."""
        prepared = req.prepared
        return await self.sign_once(
            req, lambda: self.sender.sign(self._asset(prepared), prepared.to, prepared.amount)
        )

    async def sign_once(
        self, req: SignRequest, make: Callable[[], Awaitable[tuple[bytes, str, int]]]
    ) -> SignedVersion:
        """Version `req.version`, signed by `make` once and persisted before anything sends
        it: a retry returns the version already saved, and nothing new is signed or saved
        while the chain is frozen."""
        saved = await repo.saved_version(self.pool, req.request_id, req.version)
        if saved is not None:
            return saved
        if await repo.frozen(self.pool, req.chain):  # no new signature while frozen
            raise refuse("Frozen", f"{req.chain} is frozen")
        raw, tx_id, expiry = await make()
        signed = SignedVersion(
            request_id=req.request_id,
            chain=req.chain,
            version=req.version,
            tx_id=tx_id,
            raw=base64.b64encode(raw).decode(),
            expiry=expiry,
        )
        try:
            return await repo.save_version(self.pool, signed, raw)
        except repo.Frozen as exc:  # frozen meanwhile: the bytes are dropped, never sent
            raise refuse("Frozen", str(exc)) from None

    @activity.defn(name="send_and_confirm")
    async def send_and_confirm(self, signed: SignedVersion) -> SendOutcome:
        """Broadcast the exact signed bytes, re-sending them until the chain decides.

        Heartbeats while it waits longer than a few seconds; if the worker dies, the retry
        simply resumes watching (and re-sending the same bytes, which the chain deduplicates
        by transaction id).
        """
        return await heartbeating(self._send_and_confirm(signed))

    async def _send_and_confirm(self, signed: SignedVersion) -> SendOutcome:
        raw = base64.b64decode(signed.raw)  # marked "broadcast" by the workflow's record step
        state: Check = "pending"
        clock = asyncio.get_running_loop().time
        sent_at: float | None = None
        while True:
            # Re-send until the chain has it in a block; after that only finality is awaited.
            resend_due = sent_at is None or clock() - sent_at >= self.sender.resend_seconds
            if state != "landed" and resend_due:
                try:
                    refusal = await self.sender.broadcast(raw)
                    sent_at = clock()  # a node answered; without an answer, re-send next round
                    if refusal:
                        activity.logger.info("broadcast of %s refused: %s", signed.tx_id, refusal)
                except Exception as exc:
                    activity.logger.info("broadcast of %s: outcome unknown (%s)", signed.tx_id, exc)
            # Look after an interval: a transaction just sent can't be final yet, so looking
            # at once would only cost every withdrawal one more round of calls.
            await asyncio.sleep(self.sender.poll_seconds)
            state, detail = await self.sender.check(signed.tx_id, signed.expiry)
            if state not in ("pending", "landed"):
                await repo.set_version_state(self.pool, signed.request_id, signed.version, state)
                return SendOutcome(result=state, detail=detail)

    @activity.defn(name=act.PROVE_DEAD)
    async def prove_dead(self, signed: SignedVersion) -> SendOutcome:
        """Watch a version that is never to be broadcast until the chain says it cannot land
        (expired, or failed) or that it did land (someone else sent the bytes)."""
        return await heartbeating(self._prove_dead(signed))

    async def _prove_dead(self, signed: SignedVersion) -> SendOutcome:
        while True:
            state, detail = await self.sender.check(signed.tx_id, signed.expiry)
            if state not in ("pending", "landed"):
                await repo.set_version_state(self.pool, signed.request_id, signed.version, state)
                return SendOutcome(result=state, detail=detail)
            await asyncio.sleep(self.sender.poll_seconds)

    @activity.defn(name="record_withdrawal")
    async def record(self, change: LedgerChange) -> None:
        """Move the ledger and the withdrawal's row to the workflow's decision. A version is
        not marked broadcast while the chain is frozen (`Frozen`: the workflow holds it)."""
        try:
            await repo.record(self.pool, change)
        except repo.Frozen as exc:
            raise refuse("Frozen", f"{exc}: version {change.version} is held") from None
        metrics.WITHDRAWALS.labels(change.chain, change.status).inc()
