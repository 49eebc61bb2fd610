"""Settings of the Solana devnet."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

LAMPORTS_PER_SOL = 1_000_000_000


class SolanaDevnetConfig(BaseModel):
    """Everything is deterministic from `seed` except block hashes (see `SolanaChain`)."""

    seed: str = Field("walletflow", description="derives funded keypairs and mint addresses")
    accounts: int = Field(10, ge=1, le=1000, description="number of funded accounts")
    lamports_per_account: int = Field(1_000 * LAMPORTS_PER_SOL, ge=0)
    token_units_per_account: int = Field(
        1_000_000 * 10**6, ge=0, description="base units of each mint in each funded ATA"
    )
    decimals: int = Field(6, ge=0, le=18, description="decimals of both devnet mints")
    slot_ms: int = Field(400, ge=0, description="slot length; 0 = slots advance only via advance()")
    confirmed_lag: int = Field(1, ge=0, description="blocks until a block is confirmed")
    finalized_lag: int = Field(32, ge=0, description="blocks until a block is finalized")
    skip_every: int = Field(
        10,
        ge=0,
        description="every Nth slot is skipped (no block), so slot and block height drift "
        "apart as on a real cluster and code comparing the two is caught; 0 = never",
    )
    blockhash_valid_blocks: int = Field(150, ge=1, description="MAX_PROCESSING_AGE")
    status_cache_blocks: int = Field(
        300, ge=1, description="rooted blocks getSignatureStatuses sees without history search"
    )
    state_path: Path | None = Field(None, description="where state is saved and reloaded from")
    save_interval_s: float = Field(5.0, gt=0, description="periodic save while running")
