"""Reading balances and running withdrawals in tests."""

from __future__ import annotations

from typing import Any

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solders.pubkey import Pubkey
from tronpy import AsyncTron
from tronpy.providers.async_http import AsyncHTTPProvider

from chains import solana as sol
from core.models import WithdrawalStatus
from starter.client import withdrawals
from starter.client.signer import Signer
from tests.support.ids import new_request_id
from tests.support.stack import Stack


async def sol_balance(stack: Stack, address: str, mint: str | None = None) -> int:
    async with AsyncClient(stack.solana.url) as client:
        if mint is None:
            return int((await client.get_balance(Pubkey.from_string(address), Finalized)).value)
        ata = sol.associated_token_address(address, mint)
        resp = await client.get_account_info(Pubkey.from_string(ata), Finalized)
        if resp.value is None:
            return 0
        return int(
            (
                await client.get_token_account_balance(Pubkey.from_string(ata), Finalized)
            ).value.amount
        )


async def trx_balance(stack: Stack, address: str) -> int:
    async with AsyncTron(AsyncHTTPProvider(stack.tron.url)) as client:
        account = await client.provider.make_request(
            "walletsolidity/getaccount", {"address": address, "visible": True}
        )
        return int(account.get("balance", 0))


async def usdt_balance(stack: Stack, address: str) -> int:
    async with AsyncTron(AsyncHTTPProvider(stack.tron.url)) as client:
        contract = await client.get_contract(stack.tron.info()["trc20_contract"])
        return int(await contract.functions.balanceOf(address))


async def withdraw(
    stack: Stack,
    chain: str,
    asset: str,
    to: str,
    amount: str,
    *,
    request_id: str | None = None,
    by: Signer | None = None,
    wait: bool = True,
) -> tuple[str, WithdrawalStatus | None]:
    req = withdrawals.build_request(
        stack.settings,
        chain=chain,
        asset=asset,
        to=to,
        amount=amount,
        request_id=request_id or new_request_id(),
        requested_by="set by the signature",
    )
    await withdrawals.start(stack.client, stack.settings, req, by)
    if not wait:
        return req.request_id, None
    return req.request_id, await withdrawals.handle(stack.client, req.request_id).result()


def fresh_tron_address() -> str:
    from tronpy.keys import PrivateKey

    return str(PrivateKey.random().public_key.to_base58check_address())


async def ledger(pool: Any, request_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT kind FROM ledger_entries WHERE request_id = $1 ORDER BY id", request_id
    )
    return [r["kind"] for r in rows]
