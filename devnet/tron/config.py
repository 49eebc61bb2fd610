"""Configuration of the TRON devnet."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class TronDevnetConfig(BaseModel):
    """Everything that shapes the devnet. Fees default to mainnet's chain parameters."""

    seed: str = Field("walletflow", description="genesis keys and the token address derive from it")
    accounts: int = Field(10, ge=1, le=1000, description="funded genesis accounts")
    initial_trx_sun: int = Field(1_000_000 * 1_000_000, ge=0, description="TRX per account, in sun")
    initial_token_units: int = Field(
        1_000_000 * 10**6, ge=0, description="token per account, in base units"
    )
    trc20_name: str = "Tether USD"
    trc20_symbol: str = "USDT"
    trc20_decimals: int = Field(6, ge=0, le=77)

    block_ms: int = Field(3000, ge=1, description="block interval of the producer task")
    auto_produce: bool = Field(True, description="False: blocks only come from advance()")
    solid_lag: int = Field(19, ge=0, description="blocks between a block and its solidification")

    energy_price: int = Field(210, ge=1, description="getEnergyFee, sun per energy unit")
    energy_per_trx: int = Field(
        10, ge=1, description="energy a day per staked TRX (mainnet: TotalEnergyLimit/Weight)"
    )
    bandwidth_price: int = Field(1000, ge=0, description="getTransactionFee, sun per byte")
    free_net_limit: int = Field(600, ge=0, description="getFreeNetLimit, free bytes per day")
    create_account_fee: int = Field(100_000, ge=0, description="getCreateAccountFee (bandwidth)")
    create_new_account_fee_in_system_contract: int = Field(
        1_000_000, ge=0, description="getCreateNewAccountFeeInSystemContract (activation)"
    )
    memo_fee: int = Field(
        1_000_000, ge=0, description="getMemoFee, burned when raw_data.data is set"
    )
    max_fee_limit: int = Field(15_000_000_000, ge=0, description="getMaxFeeLimit")
    tx_id_cache: bool = Field(
        True,
        description="java-tron's broadcast txID cache: a second broadcast of the same txID within "
        "an hour is DUP_TRANSACTION_ERROR even if the first one was refused",
    )

    require_api_key: SecretStr | None = Field(
        None,
        description="refuse every API call (401, TronGrid's JSON error) whose TRON-PRO-API-KEY "
        "header is not this key; None: no key needed",
    )

    state_path: Path | None = Field(None, description="JSON state file; loaded on start")
    save_interval_s: float = Field(5.0, gt=0, description="how often a changed state is saved")
