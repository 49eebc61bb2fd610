"""What the Solana devnet tests share: a devnet for the length of a fixture, funded keys,
signed transfers and the fault knobs, all through the real client libraries."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from devnet.solana import SolanaDevnet, SolanaDevnetConfig

SOL = 1_000_000_000


@contextlib.asynccontextmanager
async def running(config: SolanaDevnetConfig) -> AsyncIterator[SolanaDevnet]:
    devnet = SolanaDevnet(config)
    await devnet.start()
    try:
        yield devnet
    finally:
        await devnet.stop()


def funded(devnet: SolanaDevnet, index: int) -> Keypair:
    return Keypair.from_base58_string(devnet.info()["accounts"][index]["secret_key"])


def legacy_tx(
    signers: Sequence[Keypair], instructions: Sequence[Instruction], blockhash: Hash
) -> VersionedTransaction:
    """A legacy transaction, fee paid by the first signer (AsyncClient takes the versioned
    wrapper type)."""
    message = Message(list(instructions), signers[0].pubkey())
    return VersionedTransaction.from_legacy(Transaction(list(signers), message, blockhash))


async def signed(
    rpc: AsyncClient, payer: Keypair, instructions: Sequence[Instruction]
) -> VersionedTransaction:
    blockhash = (await rpc.get_latest_blockhash(Finalized)).value.blockhash
    return legacy_tx([payer], instructions, blockhash)


def sol_transfer(payer: Keypair, to: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))


def as_json(value: Any) -> Any:
    """A solders response object as plain JSON (typed loosely, for deep field checks)."""
    return json.loads(value.to_json())


async def set_faults(devnet: SolanaDevnet, **knobs: Any) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{devnet.url}/_devnet/faults", json=knobs) as resp,
    ):
        assert resp.status == 200, await resp.text()
