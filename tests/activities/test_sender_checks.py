"""The senders' own checks against the devnets: destinations (InvalidInput, one line, before
anything is reserved), the hot-wallet key against the configured address, and TRON's
confirmation only from a receipt of the transaction asked for."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

from activities.solana import adapters as solana_adapters
from activities.tron import adapters as tron_adapters
from chains import solana as sol
from chains import tron
from core.errors import InvalidInput, UserError
from tests.activities.test_senders import (  # noqa: F401
    _sender,
    broadcast_and_confirm,
    solana_sender,
    tron_sender,
)
from tests.support.stack import eventually


@pytest.fixture
async def permissive_solana_sender(
    solana_devnet: Any, tmp_path: Path
) -> AsyncIterator[solana_adapters.SolanaSender]:
    async for sender in _sender("solana", solana_devnet, tmp_path):
        sender.allow_program_owned = True
        yield sender


async def refusal(sender: Any, asset: Any, to: str) -> str | None:
    try:
        await sender.check_destination(asset, to)
    except InvalidInput as exc:
        assert "\n" not in str(exc)
        return str(exc)
    return None


# ---- Solana ----------------------------------------------------------------------------------


async def test_solana_destinations(
    solana_sender: solana_adapters.SolanaSender,  # noqa: F811
    permissive_solana_sender: solana_adapters.SolanaSender,
    solana_devnet: Any,
) -> None:
    sender, permissive = solana_sender, permissive_solana_sender
    info = solana_devnet.info()
    sol_asset = sender.tokens.native
    usdc = sender.tokens.by_id(info["spl_mint"])
    pyusd = sender.tokens.by_id(info["token2022_mint"])
    assert usdc is not None and pyusd is not None
    hot = sender.hot_wallet()
    other = info["accounts"][0]["address"]  # a funded wallet holding both tokens
    fresh = str(Keypair().pubkey())
    other_usdc = sol.associated_token_address(other, usdc.id, sol.TOKEN_PROGRAM)
    other_pyusd = sol.associated_token_address(other, pyusd.id, sol.TOKEN_2022_PROGRAM)
    off_curve = sol.associated_token_address(fresh, usdc.id)  # a PDA with no account yet

    for asset in (sol_asset, usdc, pyusd):
        for to in (other, fresh):
            assert await refusal(sender, asset, to) is None
        assert await refusal(permissive, asset, hot) == (
            f"the destination {hot} is the hot wallet itself"
        )
        for mint in (usdc.id, pyusd.id):  # listed, and mint-shaped on chain
            assert "is a token mint, not a wallet" in (await refusal(permissive, asset, mint) or "")
        assert "is a program" in (await refusal(sender, asset, sol.TOKEN_PROGRAM) or "")

    # Tokens to a token account (the recipient's ATA given instead of the wallet): refused.
    for asset, account in ((usdc, other_usdc), (pyusd, other_pyusd), (usdc, other_pyusd)):
        assert await refusal(permissive, asset, account) == (
            f"the destination {account} is a token account, not a wallet: send "
            f"{asset.symbol} to the wallet that owns it"
        )
    # SOL to a token account or to a PDA: refused, unless the flag allows it.
    for to, why in ((other_usdc, "is a token account"), (off_curve, "off the Ed25519 curve")):
        reason = await refusal(sender, sol_asset, to)
        assert reason is not None and why in reason and "WITHDRAWAL_ALLOW_PROGRAM_OWNED" in reason
        assert await refusal(permissive, sol_asset, to) is None
    assert await refusal(sender, usdc, off_curve) is None  # a PDA wallet may hold tokens


async def test_solana_key_must_match_the_configured_hot_wallet(
    solana_sender: solana_adapters.SolanaSender,  # noqa: F811
) -> None:
    sender = solana_sender
    hot = sender.hot_wallet()
    sender.expected_hot_wallet = hot
    assert sender.hot_wallet() == hot
    configured = str(Keypair().pubkey())
    sender.expected_hot_wallet = configured
    message = (
        f"the solana hot-wallet key belongs to {hot}, not to the configured hot wallet "
        f"{configured} (WALLETFLOW_SOLANA_HOT_WALLET): refusing to use it"
    )
    with pytest.raises(UserError) as info:
        sender.hot_wallet()
    assert str(info.value) == message
    calls = dict(sender.rpc.calls)
    with pytest.raises(UserError, match="refusing to use it"):
        await sender.sign(sender.tokens.native, str(Keypair().pubkey()), 2_000_000)
    assert dict(sender.rpc.calls) == calls  # refused before asking any node for anything


# ---- TRON ------------------------------------------------------------------------------------


async def test_tron_destinations(
    tron_sender: tron_adapters.TronSender,  # noqa: F811
    tron_devnet: Any,
) -> None:
    sender = tron_sender
    info = tron_devnet.info()
    token = sender.tokens.by_id(info["trc20_contract"])
    assert token is not None
    hot = sender.hot_wallet()
    for asset in (sender.tokens.native, token):
        wallet = str(PrivateKey.random().public_key.to_base58check_address())
        assert await refusal(sender, asset, wallet) is None
        assert (
            await refusal(sender, asset, hot) == f"the destination {hot} is the hot wallet itself"
        )
        reason = await refusal(sender, asset, token.id)
        assert reason is not None and "contract, not a wallet" in reason


async def test_tron_key_must_match_the_configured_hot_wallet(
    tron_sender: tron_adapters.TronSender,  # noqa: F811
) -> None:
    sender = tron_sender
    hot = sender.hot_wallet()
    sender.expected_hot_wallet = hot
    assert sender.hot_wallet() == hot
    configured = str(PrivateKey.random().public_key.to_base58check_address())
    sender.expected_hot_wallet = configured
    with pytest.raises(UserError) as info:
        await sender.sign(sender.tokens.native, configured, 1_000_000)
    assert str(info.value) == (
        f"the tron hot-wallet key belongs to {hot}, not to the configured hot wallet "
        f"{configured} (WALLETFLOW_TRON_HOT_WALLET): refusing to use it"
    )


async def test_tron_confirms_only_from_a_receipt_of_the_asked_transaction(
    tron_sender: tron_adapters.TronSender,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node answering gettransactioninfobyid with the receipt of another (successful)
    transaction must not confirm ours: that would settle a withdrawal that never landed."""
    sender = tron_sender
    native = sender.tokens.native
    to = str(PrivateKey.random().public_key.to_base58check_address())
    landed = await sender.sign(native, to, 1_000_000)
    await broadcast_and_confirm(sender, [landed])
    _, other_id, other_expiry = await sender.sign(native, to, 2_000_000)  # never broadcast

    async def solid_past_its_build() -> bool:  # else check() answers "pending" without asking
        head = await tron_adapters._node(sender.rpc, "walletsolidity/getnowblock", {})
        return tron.block_header(head, "timestamp") >= other_expiry - sender.expiration_ms

    await eventually(solid_past_its_build, timeout=30)

    for endpoint in sender.rpc.endpoints:
        honest = endpoint.client.provider.make_request

        async def lying(path: str, params: Any = None, honest: Any = honest) -> Any:
            if path == "walletsolidity/gettransactioninfobyid":
                params = {**params, "value": landed[1]}  # always the landed one's receipt
            return await honest(path, params)

        monkeypatch.setattr(endpoint.client.provider, "make_request", lying)
    assert (await sender.check(landed[1], landed[2]))[0] == "confirmed"
    asked = sender.rpc.calls["walletsolidity/gettransactioninfobyid"]
    assert (await sender.check(other_id, other_expiry))[0] == "pending"
    assert sender.rpc.calls["walletsolidity/gettransactioninfobyid"] == asked + 1
    assert json.loads(landed[0])["txID"] == landed[1]
