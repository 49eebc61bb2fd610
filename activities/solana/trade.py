"""Trading from the Solana hot wallet through a Jupiter-compatible swap API (`/quote`, `/swap`):
the devnet venue, or a request-for-quote venue that returns a partly signed transaction.

The venue's transaction is checked before the hot wallet signs it (chains/solana/signing.py):
one leg out of the wallet for exactly the amount sold, at least the quote's minimum back, and
a priority fee within the ceiling. Transactions that route through other programs (Jupiter's
own aggregator routes) are refused by that check: taking them safely needs a simulation check,
which is not built.
"""

from __future__ import annotations

import base64
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from solana.rpc.commitment import Confirmed, Finalized
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from activities.solana.adapters import SolanaReader, SolanaSender, token_amount
from activities.trade import Quote, VenueRefused
from chains import solana as sol
from chains.solana import SOL_MINT, swap_id
from chains.solana.signing import SwapTerms
from chains.solana.swaps import parse_swap
from core.assets import Asset
from core.errors import InvalidInput
from core.models import Fill


class SolanaTrader:
    def __init__(
        self, swap_url: str, reader: SolanaReader, sender: SolanaSender, *, timeout: float = 10
    ) -> None:
        self.swap_url = swap_url.rstrip("/")
        self.reader = reader
        self.sender = sender
        self.http = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = await self.http.request(method, f"{self.swap_url}/{path}", **kwargs)
        if resp.status_code == 400:  # the venue's refusal: {"error", "errorCode"}
            try:
                body = resp.json()
            except ValueError:
                body = {}
            raise VenueRefused(str(body.get("error") or "refused by the swap venue")[:200])
        resp.raise_for_status()  # 429 and 5xx: transient, the activity is retried
        answer = resp.json()
        if not isinstance(answer, dict):
            raise VenueRefused(f"the swap venue's {path} answer is not an object")
        return answer

    async def quote(self, sold: Asset, bought: Asset, amount: int, slippage_bps: int) -> Quote:
        raw = await self._call(
            "GET",
            "quote",
            params={
                "inputMint": swap_id(sold),
                "outputMint": swap_id(bought),
                "amount": str(amount),
                "slippageBps": str(slippage_bps),
                "swapMode": "ExactIn",
            },
        )
        try:
            quote = Quote(
                in_amount=int(raw["inAmount"]),
                out_amount=int(raw["outAmount"]),
                minimum=int(raw["otherAmountThreshold"]),
                price_impact=Decimal(str(raw.get("priceImpactPct") or "0")),
                raw=raw,
            )
        except (KeyError, ValueError, InvalidOperation):
            raise VenueRefused("the swap venue's quote is malformed") from None
        if quote.in_amount != amount or quote.minimum <= 0:
            raise VenueRefused("the swap venue quoted another amount than asked")
        return quote

    async def sign_swap(
        self, quote: Quote, sold: Asset, bought: Asset, priority_fee: int
    ) -> tuple[bytes, str, int]:
        wallet = self.sender.hot_wallet()
        answer = await self._call(
            "POST",
            "swap",
            json={
                "quoteResponse": quote.raw,
                "userPublicKey": wallet,
                "prioritizationFeeLamports": priority_fee,
            },
        )
        try:
            tx = VersionedTransaction.from_bytes(base64.b64decode(answer["swapTransaction"]))
            expiry = int(answer["lastValidBlockHeight"])
        except (KeyError, ValueError, TypeError):
            raise InvalidInput("the swap venue's transaction does not decode") from None
        programs = {
            swap_id(a): a.program or sol.TOKEN_PROGRAM for a in (sold, bought) if not a.native
        }
        terms = SwapTerms(
            wallet=wallet,
            sold=swap_id(sold),
            amount=quote.in_amount,
            bought=swap_id(bought),
            minimum=quote.minimum,
            priority_fee=priority_fee,
            programs=programs,
        )
        raw, tx_id = self.sender.sign_offer(tx, terms)
        return raw, tx_id, expiry

    async def balance(self, owner: str, asset: str) -> int:
        key = Pubkey.from_string(owner)
        if asset == sol.NATIVE.id:
            resp = await self.reader.rpc.call(
                "getBalance", lambda c: c.get_balance(key, commitment=Confirmed)
            )
            return int(resp.value)
        listed = self.sender.tokens.by_id(asset)
        program = (listed.program if listed else None) or sol.TOKEN_PROGRAM
        ata = Pubkey.from_string(sol.associated_token_address(owner, asset, program))
        accounts = await self.reader.rpc.call(
            "getMultipleAccounts", lambda c: c.get_multiple_accounts([ata], commitment=Confirmed)
        )
        return token_amount(accounts.value[0], program)

    async def fill(self, tx_id: str) -> Fill:
        wallet = self.sender.hot_wallet()
        swap = parse_swap(await self.reader.transaction(tx_id, Finalized), wallet)
        if swap is None:
            raise InvalidInput(f"{tx_id} is not a swap of {wallet}")
        native = sol.NATIVE.id
        return Fill(
            input_id=native if swap.input_mint == SOL_MINT else swap.input_mint,
            input_amount=swap.input_amount,
            output_id=native if swap.output_mint == SOL_MINT else swap.output_mint,
            output_amount=swap.output_amount,
        )
