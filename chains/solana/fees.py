"""Solana fee and rent rules: what a transfer costs the hot wallet beyond the amount."""

LAMPORTS_PER_SIGNATURE = 5_000  # walletflow's transfers carry one signature, no priority fee
FEE_ALLOWANCE = 10_000  # lamports: the signature fee, with room
RENT_EXEMPT_EMPTY = 890_880  # lamports an account with no data needs to exist
RENT_EXEMPT_TOKEN_ACCOUNT = 2_039_280  # lamports for a new token account (165 bytes)
