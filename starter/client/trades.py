"""Requesting trades: what `walletflow trade buy|sell` (and the bot's /buy, /sell) do.

A trade is a withdrawal whose transaction is a swap, so it is started, watched and cancelled
by the functions of starter/client/withdrawals.py with `kind=TRADE`. Input is checked here
before anything starts; the workflow checks it again against the worker's policy.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import httpx

import chains
from core.amounts import from_base_units, plain, to_base_units
from core.errors import InvalidInput, UserError
from core.models import SwapOrder, WithdrawalRequest
from starter.client.withdrawals import check_request_id
from starter.runtime.settings import Settings

Side = Literal["buy", "sell"]
MAX_SLIPPAGE_BPS = 5000  # the request's own bound; the worker's policy is usually stricter


def build_request(
    settings: Settings,
    *,
    chain: str,
    side: Side,
    token: str,
    amount: str,
    request_id: str,
    requested_by: str,
    slippage_bps: int = 50,
    priority_fee: int = 10_000,
    notify_chat: int | None = None,
) -> WithdrawalRequest:
    """`buy TOKEN` spends `amount` of the chain's coin on it; `sell TOKEN` sells `amount` of
    it for the coin. A validated request, or a UserError saying what is wrong."""
    check_request_id(request_id)
    chain = chain.strip().lower()
    try:
        spec = chains.get(chain)
    except InvalidInput as exc:
        raise UserError(str(exc)) from None
    if spec.ENV.swap_url is None:
        raise UserError(f"trading is not available on {chain}")
    tokens = settings.tokens(chain)
    listed = tokens.by_symbol(token) or tokens.by_id(token.strip())
    if listed is None or listed.native:
        known = ", ".join(s for s in tokens.symbols() if s != spec.NATIVE.symbol)
        raise UserError(f"unknown token {token!r} on {chain}: listed are {known}")
    if not 1 <= slippage_bps <= MAX_SLIPPAGE_BPS:
        raise UserError(f"slippage must be 1..{MAX_SLIPPAGE_BPS} bps, not {slippage_bps}")
    if priority_fee < 0:
        raise UserError("the priority fee must be >= 0")
    sold, bought = (spec.NATIVE, listed) if side == "buy" else (listed, spec.NATIVE)
    try:
        to_base_units(amount, sold.decimals)
    except InvalidInput as exc:
        raise UserError(str(exc)) from None
    return WithdrawalRequest(
        request_id=request_id,
        chain=chain,
        asset=sold.symbol,
        to="",  # the trading wallet receives what is bought: the worker knows which it is
        amount=amount.strip(),
        requested_by=requested_by,
        notify_chat=notify_chat,
        notify_queue=settings.task_queue("notify"),
        approval_timeout_seconds=int(settings.approval_hours * 3600),
        swap=SwapOrder(
            output=bought.symbol, slippage_bps=slippage_bps, priority_fee_lamports=priority_fee
        ),
    )


async def quote_line(settings: Settings, req: WithdrawalRequest, timeout: float = 8.0) -> str:
    """What the venue would pay now, for a confirmation message; never raises (a courtesy:
    the trade takes its own quote when it signs)."""
    spec = chains.get(req.chain)
    url = str(settings.env(spec.ENV.swap_url) or "") if spec.ENV.swap_url else ""
    tokens = settings.tokens(req.chain)
    if not url or req.swap is None:
        return "Quote: unavailable (no swap venue configured)"
    sold, bought = tokens.by_symbol(req.asset), tokens.by_symbol(req.swap.output)
    if sold is None or bought is None:
        return "Quote: unavailable (an asset is not listed)"
    params = {
        "inputMint": spec.swap_id(sold),
        "outputMint": spec.swap_id(bought),
        "amount": str(to_base_units(req.amount, sold.decimals)),
        "slippageBps": str(req.swap.slippage_bps),
    }
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            resp = await http.get(f"{url.rstrip('/')}/quote", params=params)
        body = resp.json()
        if resp.status_code != 200:
            return f"Quote: refused ({str(body.get('error', resp.status_code))[:120]})"
        out = from_base_units(int(body["outAmount"]), bought.decimals)
        least = from_base_units(int(body["otherAmountThreshold"]), bought.decimals)
        impact = Decimal(str(body.get("priceImpactPct") or "0")) * 100
    except Exception as exc:  # any failure just means no quote to show
        return f"Quote: unavailable ({type(exc).__name__})"
    return (
        f"Quote: ≈ {plain(out)} {bought.symbol} (at least {plain(least)}), "
        f"price impact {impact:.2f}%"
    )
