"""Trade activities: a trade is a withdrawal whose transaction is a swap.

They reuse the withdrawal activities for everything but what is signed: the checks every money
move passes (`admit`: limits, funds, a request id never used before), signing a version once
and persisting it before any broadcast (`sign_once`), and the shared `reserve`,
`send_and_confirm`, `prove_dead` and `record`. What is new: validating a swap's terms against
the worker's trading policy, taking a fresh quote for every version, and reading the fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from temporalio import activity

import chains
from activities.withdraw import Policy, WithdrawalActivities, refuse
from core import activity_names as act
from core.amounts import from_base_units, plain, to_base_units
from core.assets import Asset
from core.errors import InvalidInput
from core.models import (
    Fill,
    LeaderBalance,
    PreparedSwap,
    PreparedWithdrawal,
    SignedVersion,
    SignRequest,
    WithdrawalRequest,
)


class VenueRefused(Exception):
    """The venue said no (no route, slippage exceeded, ...): one line, from its answer."""


@dataclass(frozen=True)
class Quote:
    """A venue's price for selling `in_amount`; `raw` is its answer, handed back to swap."""

    in_amount: int
    out_amount: int
    minimum: int  # the least the swap may pay out (the slippage bound)
    price_impact: Decimal  # a fraction
    raw: dict[str, Any]


class ChainTrader(Protocol):
    """One chain's swap venue (a Jupiter-compatible API), trading from the hot wallet."""

    async def quote(self, sold: Asset, bought: Asset, amount: int, slippage_bps: int) -> Quote:
        """Raises VenueRefused when the venue has no price."""
        ...

    async def sign_swap(
        self, quote: Quote, sold: Asset, bought: Asset, priority_fee: int
    ) -> tuple[bytes, str, int]:
        """The venue's transaction for `quote`, checked against its terms, then signed by the
        hot wallet: (exact bytes, transaction id, expiry bound). VenueRefused if the venue
        refuses now; InvalidInput if the transaction is not what was asked for."""
        ...

    async def fill(self, tx_id: str) -> Fill:
        """What the confirmed transaction moved for the hot wallet."""
        ...

    async def balance(self, owner: str, asset: str) -> int:
        """What `owner` holds of `asset` (the coin's id or a token's mint), at confirmed."""
        ...


@dataclass
class TradingPolicy:
    """The worker's bounds on every trade; a request may ask for less, never more."""

    max_slippage_bps: int = 300
    max_price_impact: Decimal = Decimal("0.05")
    priority_fee_ceiling: int = 100_000  # base units of the chain's coin


class TradeActivities(WithdrawalActivities):
    def __init__(
        self,
        withdrawals: WithdrawalActivities,
        trader: ChainTrader | None,
        trading: TradingPolicy,
        policy: Policy | None = None,
    ) -> None:
        super().__init__(
            withdrawals.sender,
            withdrawals.pool,
            policy or withdrawals.policy,
            withdrawals.pricer,  # the USD tiers apply to trades as to withdrawals
            withdrawals.valuer,
        )
        self.trader = trader
        self.trading = trading

    def _trader(self, chain: str) -> ChainTrader:
        if self.trader is None:
            raise refuse("InvalidInput", f"no swap venue is configured for {chain}")
        return self.trader

    @activity.defn(name=act.PREPARE_TRADE)
    async def prepare_trade(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        """Validate the swap's terms and policy, and check that the venue can price it now
        (a copied trade skips that: its quote comes as it is signed). Nothing is reserved
        here: a refusal costs nothing."""
        trader = self._trader(req.chain)
        swap = req.swap
        if swap is None:
            raise refuse("InvalidInput", "a trade needs swap terms")
        hot = self.sender.hot_wallet()
        try:
            sold, wallet, amount = chains.parse_transfer(
                req.chain, self.sender.tokens, req.asset, hot, req.amount
            )
            bought = self._listed(req.chain, swap.output)
        except InvalidInput as exc:
            raise refuse("InvalidInput", str(exc)) from None
        if bought.id == sold.id:
            raise refuse("InvalidInput", f"a trade needs two assets: both are {sold.symbol}")
        self._check_terms(swap.slippage_bps, swap.priority_fee_lamports)
        cap, depth = self.trading.max_price_impact, 0
        if req.copied_by is not None:  # a copy's own rules may be stricter than the worker's
            rules = req.copied_by.rules
            cap = min(cap, Decimal(rules.max_price_impact))
            native = chains.get(req.chain).NATIVE
            depth = (
                to_base_units(rules.min_liquidity, native.decimals) if rules.min_liquidity else 0
            )
        else:  # a copied trade is priced once, as it is signed: its seconds count
            quote = await self._quote(trader, sold, bought, amount, swap.slippage_bps, cap)
            activity.logger.info("trade %s quoted %s", req.request_id, quote.out_amount)
        prepared = self.prepared(req, sold, wallet, amount).model_copy(
            update={
                "swap": PreparedSwap(
                    output_id=bought.id,
                    output_symbol=bought.symbol,
                    output_decimals=bought.decimals,
                    slippage_bps=swap.slippage_bps,
                    max_price_impact=str(cap),
                    min_depth=depth,
                    priority_fee=swap.priority_fee_lamports,
                ),
                "searchable_destination": False,  # the trading wallet is not a destination
            }
        )
        return await self.admit(req, prepared)

    def _listed(self, chain: str, text: str) -> Asset:
        asset = self.sender.tokens.by_symbol(text) or self.sender.tokens.by_id(text)
        if asset is None:
            listed = ", ".join(self.sender.tokens.symbols())
            raise InvalidInput(f"unknown asset or mint {text!r} on {chain}: listed are {listed}")
        return asset

    def _check_terms(self, slippage_bps: int, priority_fee: int) -> None:
        cap = self.trading.max_slippage_bps
        if not 1 <= slippage_bps <= cap:
            raise refuse("InvalidInput", f"slippage {slippage_bps} bps is outside 1..{cap} bps")
        ceiling = self.trading.priority_fee_ceiling
        if not 0 <= priority_fee <= ceiling:
            raise refuse("PolicyViolation", f"priority fee {priority_fee} is outside 0..{ceiling}")

    async def _quote(
        self,
        trader: ChainTrader,
        sold: Asset,
        bought: Asset,
        amount: int,
        slippage_bps: int,
        cap: Decimal,
        refusal: str = "PolicyViolation",
        min_depth: int = 0,
    ) -> Quote:
        """The venue's quote within the price-impact cap and, for a copy, above its minimum
        pool liquidity; `refusal` names the error type (at signing, "VenueRefused": nothing
        was signed, so the trade fails released)."""
        try:
            quote = await trader.quote(sold, bought, amount, slippage_bps)
        except VenueRefused as exc:
            raise refuse("VenueRefused", str(exc)) from None
        if quote.price_impact > cap:
            impact = plain((quote.price_impact * 100).quantize(Decimal("1e-6")))
            raise refuse(refusal, f"price impact {impact}% is above the cap {plain(cap * 100)}%")
        coin = sold if sold.native else bought
        moved = quote.in_amount if sold.native else quote.out_amount  # the trade's coin side
        if min_depth and quote.price_impact > 0 and moved / quote.price_impact < min_depth:
            depth = from_base_units(int(moved / quote.price_impact), coin.decimals)
            wanted = from_base_units(min_depth, coin.decimals)
            raise refuse(
                refusal,
                f"the pool holds about {plain(depth.quantize(Decimal(1)))} {coin.symbol}, "
                f"below the minimum liquidity {plain(wanted)} {coin.symbol}",
            )
        return quote

    @activity.defn(name=act.SIGN_TRADE)
    async def sign_trade(self, req: SignRequest) -> SignedVersion:
        """Version `req.version` of the trade: a fresh quote within the bounds, the venue's
        transaction checked against it, signed once and persisted before any send."""
        trader = self._trader(req.chain)
        prepared = req.prepared
        swap = prepared.swap
        if swap is None:
            raise refuse("InvalidInput", "not a trade")
        sold = self._asset(prepared)
        bought = self._listed(req.chain, swap.output_id)

        async def make() -> tuple[bytes, str, int]:
            cap = Decimal(swap.max_price_impact)
            quote = await self._quote(
                trader,
                sold,
                bought,
                prepared.amount,
                swap.slippage_bps,
                cap,
                "VenueRefused",
                swap.min_depth,
            )
            try:
                return await trader.sign_swap(quote, sold, bought, swap.priority_fee)
            except VenueRefused as exc:  # e.g. the price moved past the bound meanwhile
                raise refuse("VenueRefused", str(exc)) from None
            except InvalidInput as exc:
                raise refuse("VenueRefused", f"unsafe swap transaction: {exc}") from None

        return await self.sign_once(req, make)

    @activity.defn(name=act.TRADE_FILL)
    async def trade_fill(self, tx_id: str) -> Fill:
        return await self._trader(self.sender.chain).fill(tx_id)

    @activity.defn(name=act.LEADER_BALANCE)
    async def leader_balance(self, question: LeaderBalance) -> int:
        return await self._trader(question.chain).balance(question.owner, question.asset)
