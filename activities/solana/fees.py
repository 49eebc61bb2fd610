"""Solana fee estimates for the bot: the signature fee, plus rent the sender pays for a
recipient's new token account."""

from __future__ import annotations

import contextlib
from functools import partial

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.pubkey import Pubkey

from activities.failover import Endpoints
from activities.fees import FeeEstimate
from activities.solana.adapters import connect
from chains import solana as sol
from chains.solana.fees import (
    LAMPORTS_PER_SIGNATURE,
    RENT_EXEMPT_EMPTY,
    RENT_EXEMPT_TOKEN_ACCOUNT,
)
from core.assets import Asset, format_amount


class SolanaFees:
    def __init__(self, urls: list[str], hot_wallet: str | None) -> None:
        self.urls = urls
        self._rpc: Endpoints[AsyncClient] | None = None

    async def close(self) -> None:
        for endpoint in self._rpc.endpoints if self._rpc else []:
            with contextlib.suppress(Exception):
                await endpoint.client.close()

    async def _exists(self, address: str) -> bool:
        if self._rpc is None:
            self._rpc = connect(self.urls, timeout=5)
        resp = await self._rpc.call(
            "getAccountInfo",
            partial(
                AsyncClient.get_account_info,
                pubkey=Pubkey.from_string(address),
                commitment=Confirmed,
            ),
        )
        return resp.value is not None

    async def estimate(self, asset: Asset, to: str, amount: int) -> FeeEstimate:
        fee, notes = LAMPORTS_PER_SIGNATURE, []
        if asset.native:
            if amount < RENT_EXEMPT_EMPTY and not await self._exists(to):
                minimum = format_amount(RENT_EXEMPT_EMPTY, sol.NATIVE)
                notes.append(f"the recipient account does not exist yet: send at least {minimum}")
        else:
            ata = sol.associated_token_address(to, asset.id, asset.program or sol.TOKEN_PROGRAM)
            if not await self._exists(ata):
                # The sender pays the rent of the recipient's new token account.
                rent = RENT_EXEMPT_TOKEN_ACCOUNT
                fee += rent
                notes.append(
                    f"includes {format_amount(rent, sol.NATIVE)} rent for the recipient's new "
                    f"{asset.symbol} account"
                )
        return FeeEstimate(sol.NATIVE, fee, approximate=False, notes=tuple(notes))
