"""Network-fee estimates for the bot's /withdraw summary, from public RPC reads only.

The bot holds no key: where an estimate depends on the sender (TRC20 energy, TRON free
bandwidth) it reads the hot wallet's public address from WALLETFLOW_{CHAIN}_HOT_WALLET, and
falls back to a typical figure (said "about") when that is unset or the chain can't tell.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.pubkey import Pubkey
from tronpy import AsyncTron

from activities import solana_rpc, tron_rpc
from activities.rpc import Endpoints
from chains import solana as sol
from chains import tron
from chains.base import Asset, format_amount
from starter.settings import Settings

LAMPORTS_PER_SIGNATURE = 5_000  # walletflow's transfers carry one signature, no priority fee
TRX_TRANSFER_BYTES = 270  # a signed TransferContract, as bandwidth
TRC20_TRANSFER_BYTES = 345  # a signed TriggerSmartContract transfer(address,uint256)
BANDWIDTH_PRICE = 1_000  # sun per byte when the chain parameter can't be read
ENERGY_PRICE = 210  # sun per energy unit (mainnet getEnergyFee since 2024), same fallback
# USDT-like transfer(address,uint256): to an address already holding the token, and to one
# that doesn't (a new storage slot costs about twice as much).
TYPICAL_ENERGY_HOLDER = 65_000
TYPICAL_ENERGY_NEW_HOLDER = 130_000


@dataclass(frozen=True)
class FeeEstimate:
    """What the sender pays to the network, in base units of the chain's native coin."""

    native: Asset
    amount: int
    approximate: bool  # a typical figure rather than one read from the chain
    notes: tuple[str, ...] = field(default=())

    def text(self) -> str:
        return f"{'about' if self.approximate else '≈'} {format_amount(self.amount, self.native)}"


class FeeEstimator:
    """Estimates per chain; RPC clients are opened on first use and kept until `close`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._solana: Endpoints[AsyncClient] | None = None
        self._tron: Endpoints[AsyncTron] | None = None

    async def estimate(self, chain: str, asset: Asset, to: str, amount: int) -> FeeEstimate:
        """The fee of sending `amount` base units of `asset` to `to` (already validated)."""
        if chain == "solana":
            return await self._estimate_solana(asset, to, amount)
        return await self._estimate_tron(asset, to, amount)

    async def close(self) -> None:
        for rpc in (self._solana, self._tron):
            for endpoint in rpc.endpoints if rpc else []:
                with contextlib.suppress(Exception):
                    await endpoint.client.close()

    # ---- Solana -----------------------------------------------------------------------------

    async def _exists_on_solana(self, address: str) -> bool:
        if self._solana is None:
            self._solana = solana_rpc.connect(self.settings.rpc_urls("solana"), timeout=5)
        resp = await self._solana.call(
            "getAccountInfo",
            partial(
                AsyncClient.get_account_info,
                pubkey=Pubkey.from_string(address),
                commitment=Confirmed,
            ),
        )
        return resp.value is not None

    async def _estimate_solana(self, asset: Asset, to: str, amount: int) -> FeeEstimate:
        fee, notes = LAMPORTS_PER_SIGNATURE, []
        if asset.native:
            if amount < solana_rpc.RENT_EXEMPT_EMPTY and not await self._exists_on_solana(to):
                minimum = format_amount(solana_rpc.RENT_EXEMPT_EMPTY, sol.NATIVE)
                notes.append(f"the recipient account does not exist yet: send at least {minimum}")
        else:
            ata = sol.associated_token_address(to, asset.id, asset.program or sol.TOKEN_PROGRAM)
            if not await self._exists_on_solana(ata):
                # The sender pays the rent of the recipient's new token account.
                rent = solana_rpc.RENT_EXEMPT_TOKEN_ACCOUNT
                fee += rent
                notes.append(
                    f"includes {format_amount(rent, sol.NATIVE)} rent for the recipient's new "
                    f"{asset.symbol} account"
                )
        return FeeEstimate(sol.NATIVE, fee, approximate=False, notes=tuple(notes))

    # ---- TRON -------------------------------------------------------------------------------

    async def _node(self, path: str, params: dict[str, Any]) -> Any:
        if self._tron is None:
            self._tron = tron_rpc.connect(self.settings.rpc_urls("tron"), timeout=5)
        return await self._tron.call(path, lambda c: c.provider.make_request(path, params))

    async def _prices(self) -> tuple[int, int]:
        """(sun per bandwidth byte, sun per energy unit) from the chain parameters."""
        params = await self._node("wallet/getchainparameters", {})
        values = {p.get("key"): p.get("value") for p in params.get("chainParameter", [])}
        return (
            int(values.get("getTransactionFee") or BANDWIDTH_PRICE),
            int(values.get("getEnergyFee") or ENERGY_PRICE),
        )

    async def _free_bandwidth(self, address: str) -> int:
        res = await self._node("wallet/getaccountresource", {"address": address, "visible": True})
        free = int(res.get("freeNetLimit", 0)) - int(res.get("freeNetUsed", 0))
        staked = int(res.get("NetLimit", 0)) - int(res.get("NetUsed", 0))
        return max(free, 0) + max(staked, 0)

    async def _constant(self, owner: str, contract: str, selector: str, arg: str) -> Any:
        return await self._node(
            "wallet/triggerconstantcontract",
            {
                "owner_address": owner,
                "contract_address": contract,
                "function_selector": selector,
                "parameter": arg,
                "visible": True,
            },
        )

    async def _transfer_energy(self, hot: str | None, asset: Asset, to: str, amount: int) -> int:
        """Energy the transfer would use, simulated from the hot wallet; 0 if unknown."""
        if hot is None:
            return 0
        reply = await self._constant(
            hot, asset.id, tron.TRANSFER_SELECTOR, tron.abi_address(to) + tron.abi_uint(amount)
        )
        reverted = reply.get("result", {}).get("message") or not reply.get("result", {}).get(
            "result"
        )
        return 0 if reverted else int(reply.get("energy_used", 0))

    async def _holds_token(self, address: str, asset: Asset) -> bool:
        reply = await self._constant(
            address, asset.id, tron.BALANCE_OF_SELECTOR, tron.abi_address(address)
        )
        return int((reply.get("constant_result") or ["0"])[0] or "0", 16) > 0

    async def _estimate_tron(self, asset: Asset, to: str, amount: int) -> FeeEstimate:
        hot = self.settings.tron_hot_wallet
        byte_price, energy_price = await self._prices()
        size = TRX_TRANSFER_BYTES if asset.native else TRC20_TRANSFER_BYTES
        free = await self._free_bandwidth(hot) if hot else 0
        fee = 0 if free >= size else size * byte_price
        notes = ["paid with free bandwidth"] if fee == 0 else []
        approximate = hot is None
        if asset.native:
            account = await self._node("wallet/getaccount", {"address": to, "visible": True})
            if not account:  # an empty answer: the account doesn't exist yet
                fee += tron.ACTIVATION_SUN
                activation = format_amount(tron.ACTIVATION_SUN, tron.NATIVE)
                notes.append(f"includes {activation} to activate the new recipient account")
        else:
            energy = await self._transfer_energy(hot, asset, to, amount)
            if not energy:
                approximate = True
                holder = await self._holds_token(to, asset)
                energy = TYPICAL_ENERGY_HOLDER if holder else TYPICAL_ENERGY_NEW_HOLDER
            fee += energy * energy_price
            notes.append(f"{energy:,} energy burned as TRX")
        return FeeEstimate(tron.NATIVE, fee, approximate=approximate, notes=tuple(notes))
