"""TRON fee rules, the one place they live: what the sender signs for (fee_limit), what the
hot wallet must hold, and what the bot's estimates assume when the chain can't tell."""

from __future__ import annotations

from typing import Any

ACTIVATION_SUN = 1_100_000  # 1 TRX to create the account + 0.1 TRX of bandwidth for it
ACTIVATION_TRANSFER_SUN = 1  # what a sweep sends to activate a deposit address: the least
FREE_NET_BYTES = 600  # free bandwidth a day of an account (getFreeNetLimit)
ENERGY_MARGIN_PERCENT = 110  # energy given to a sweep over the estimate: what may be left over
BANDWIDTH_ALLOWANCE_SUN = 400_000  # ~400 bytes burned at 1000 sun/byte when no free bandwidth
TRX_TRANSFER_BYTES = 270  # a signed TransferContract, as bandwidth
TRC20_TRANSFER_BYTES = 345  # a signed TriggerSmartContract transfer(address,uint256)
# Prices when the chain parameters can't be read. The energy fallback is the higher of the
# recent mainnet prices (420, then 210 sun): a fee_limit too low burns the fee and fails.
BANDWIDTH_PRICE = 1_000  # sun per byte
ENERGY_PRICE = 420  # sun per energy unit
# USDT-like transfer(address,uint256): to an address already holding the token, and to one
# that doesn't (a new storage slot costs about twice as much).
TYPICAL_ENERGY_HOLDER = 65_000
TYPICAL_ENERGY_NEW_HOLDER = 130_000


def prices(chain_parameters: dict[str, Any]) -> tuple[int, int]:
    """(sun per bandwidth byte, sun per energy unit) from a getchainparameters answer."""
    values = {p.get("key"): p.get("value") for p in chain_parameters.get("chainParameter", [])}
    return (
        int(values.get("getTransactionFee") or BANDWIDTH_PRICE),
        int(values.get("getEnergyFee") or ENERGY_PRICE),
    )


def fee_limit(energy: int, energy_price: int, *, margin_percent: int = 150, cap: int) -> int:
    """fee_limit in sun for a contract call using about `energy`: a margin over the estimate
    (integer arithmetic, as for every amount), never above `cap` (the operator's ceiling on
    what one transfer may burn)."""
    return min(energy * energy_price * margin_percent // 100, cap)


def sweep_fee(free_bandwidth: int, bandwidth_price: int) -> int:
    """What a TRX transfer from a deposit address burns: nothing while its free daily
    bandwidth (600 bytes, recovering over 24 h) covers the transfer, else its bytes."""
    return 0 if free_bandwidth >= TRX_TRANSFER_BYTES else TRX_TRANSFER_BYTES * bandwidth_price


def with_margin(energy: int) -> int:
    return energy * ENERGY_MARGIN_PERCENT // 100
