"""TRON fee estimates for the bot: bandwidth (free, staked or burned), account activation,
and the energy of a TRC20 transfer simulated from the hot wallet."""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import SecretStr
from tronpy import AsyncTron

from activities.failover import Endpoints
from activities.fees import FeeEstimate
from activities.tron.adapters import connect
from chains import tron
from chains.tron import fees
from core.assets import Asset, format_amount


class TronFees:
    def __init__(
        self, urls: list[str], hot_wallet: str | None, *, api_key: SecretStr | None = None
    ) -> None:
        self.urls = urls
        self.hot = hot_wallet
        self._api_key = api_key
        self._rpc: Endpoints[AsyncTron] | None = None

    async def close(self) -> None:
        for endpoint in self._rpc.endpoints if self._rpc else []:
            with contextlib.suppress(Exception):
                await endpoint.client.close()

    async def _node(self, path: str, params: dict[str, Any]) -> Any:
        if self._rpc is None:
            self._rpc = connect(self.urls, timeout=5, api_key=self._api_key)
        return await self._rpc.call(path, lambda c: c.provider.make_request(path, params))

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

    async def _transfer_energy(self, asset: Asset, to: str, amount: int) -> int:
        """Energy the transfer would use, simulated from the hot wallet; 0 if unknown."""
        if self.hot is None:
            return 0
        reply = await self._constant(
            self.hot, asset.id, tron.TRANSFER_SELECTOR, tron.abi_address(to) + tron.abi_uint(amount)
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

    async def estimate(self, asset: Asset, to: str, amount: int) -> FeeEstimate:
        byte_price, energy_price = fees.prices(await self._node("wallet/getchainparameters", {}))
        size = fees.TRX_TRANSFER_BYTES if asset.native else fees.TRC20_TRANSFER_BYTES
        free = await self._free_bandwidth(self.hot) if self.hot else 0
        fee = 0 if free >= size else size * byte_price
        notes = ["paid with free bandwidth"] if fee == 0 else []
        approximate = self.hot is None
        if asset.native:
            account = await self._node("wallet/getaccount", {"address": to, "visible": True})
            if not account:  # an empty answer: the account doesn't exist yet
                fee += fees.ACTIVATION_SUN
                activation = format_amount(fees.ACTIVATION_SUN, tron.NATIVE)
                notes.append(f"includes {activation} to activate the new recipient account")
        else:
            energy = await self._transfer_energy(asset, to, amount)
            if not energy:
                approximate = True
                holder = await self._holds_token(to, asset)
                energy = fees.TYPICAL_ENERGY_HOLDER if holder else fees.TYPICAL_ENERGY_NEW_HOLDER
            fee += energy * energy_price
            notes.append(f"{energy:,} energy burned as TRX")
        return FeeEstimate(tron.NATIVE, fee, approximate=approximate, notes=tuple(notes))
