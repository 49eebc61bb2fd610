"""SolanaSender against the Solana devnet: signers close together share one blockhash and
still make distinct transactions that land; later signers fetch a fresh one."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from solders.keypair import Keypair

from activities import solana_rpc
from activities.keystore import FileKeyStore
from chains.base import to_base_units
from starter.devstack import devnet_tokens, write_devnet_keys
from starter.settings import Settings
from tests.e2e import HOT_ACCOUNT, eventually


def sender_for(devnet: Any, home: Path) -> solana_rpc.SolanaSender:
    info = devnet.info()
    tokens = devnet_tokens({"solana": info}, Settings(SOLANA_TOKENS="", TRON_TOKENS=""))
    settings = Settings(SOLANA_TOKENS=tokens["SOLANA_TOKENS"], TRON_TOKENS="")
    keys = FileKeyStore(write_devnet_keys(home, {"solana": info}, index=HOT_ACCOUNT))
    rpc = solana_rpc.connect([devnet.url])
    return solana_rpc.SolanaSender(rpc, settings.tokens("solana"), keys, poll_seconds=0.1)


async def test_close_signers_share_a_blockhash_and_all_land(
    solana_devnet: Any, tmp_path: Path
) -> None:
    sender = sender_for(solana_devnet, tmp_path)
    sol = sender.tokens.native
    amount = to_base_units(Decimal("0.002"), sol.decimals)
    try:
        signed = await asyncio.gather(
            *(sender.sign(sol, str(Keypair().pubkey()), amount) for _ in range(5))
        )
        assert sender.rpc.calls["getLatestBlockhash"] == 1
        assert len({tx_id for _, tx_id, _ in signed}) == 5
        assert len({expiry for _, _, expiry in signed}) == 1

        for raw, _, _ in signed:
            assert await sender.broadcast(raw) is None

        async def all_confirmed() -> bool:
            checks = [await sender.check(tx_id, expiry) for _, tx_id, expiry in signed]
            return all(state == "confirmed" for state, _ in checks)

        await eventually(all_confirmed, timeout=30)

        await asyncio.sleep(solana_rpc.BLOCKHASH_REUSE + 0.1)
        later = await sender.sign(sol, str(Keypair().pubkey()), amount)
        assert sender.rpc.calls["getLatestBlockhash"] == 2
        assert later[2] > signed[0][2]  # a newer blockhash, valid for longer
    finally:
        for endpoint in sender.rpc.endpoints:
            await endpoint.client.close()
