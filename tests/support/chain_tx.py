"""Sending real transfers to the devnets from tests, through the real client libraries."""

from __future__ import annotations

from typing import Any

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.transaction import Transaction

from chains import solana as sol
from core.assets import Asset


def sol_account(devnet: Any, index: int) -> Keypair:
    return Keypair.from_base58_string(devnet.info()["accounts"][index]["secret_key"])


def usdc(devnet: Any) -> Asset:
    info = devnet.info()
    return Asset(
        symbol="USDC", decimals=info["decimals"], id=info["spl_mint"], program=sol.TOKEN_PROGRAM
    )


async def sol_send(url: str, payer: Keypair, to: str, asset: Asset, amount: int) -> str:
    """Sign and send a SOL or token transfer; returns the signature once confirmed-processed."""
    async with AsyncClient(url, commitment=Confirmed) as client:
        blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash
        message = sol.transfer_message(str(payer.pubkey()), to, asset, amount, str(blockhash))
        tx = Transaction([payer], message, blockhash)
        return str((await client.send_raw_transaction(bytes(tx))).value)
