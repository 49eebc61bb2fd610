"""The chain senders against the devnets: what several withdrawals close together may share
(Solana's blockhash, TRON's energy price) is read once, and their transactions all land."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from solana.rpc.commitment import Finalized
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction_status import TransactionConfirmationStatus
from temporalio.testing import ActivityEnvironment
from tronpy.keys import PrivateKey

from activities.keystore import FileKeyStore
from activities.solana import adapters as solana_adapters
from activities.tron import adapters as tron_adapters
from activities.withdraw import ChainSender, InsufficientFunds, Policy, WithdrawalActivities
from chains import tron
from core.amounts import to_base_units
from core.models import SignedVersion
from starter.devstack import devnet_env, write_devnet_keys
from starter.runtime.settings import Settings
from tests.support.liar import LyingNode
from tests.support.stack import HOT_ACCOUNT, eventually

Signed = tuple[bytes, str, int]  # (raw, tx id, expiry), as ChainSender.sign returns them


@pytest.fixture
async def solana_sender(solana_devnet: Any, tmp_path: Path) -> AsyncIterator[Any]:
    async for sender in _sender("solana", solana_devnet, tmp_path):
        yield sender


@pytest.fixture
async def tron_sender(tron_devnet: Any, tmp_path: Path) -> AsyncIterator[Any]:
    async for sender in _sender("tron", tron_devnet, tmp_path):
        yield sender


async def _sender(
    chain: str, devnet: Any, home: Path, urls: list[str] | None = None
) -> AsyncIterator[Any]:
    """The chain's sender as worker_main builds it, the hot wallet being the tests' one;
    `urls`: its RPC endpoints in failover order (default: the devnet's alone)."""
    info = devnet.info()
    tokens = devnet_env({chain: info}, Settings(SOLANA_TOKENS="", TRON_TOKENS=""))
    settings = Settings(
        SOLANA_TOKENS=tokens.get("SOLANA_TOKENS", ""), TRON_TOKENS=tokens.get("TRON_TOKENS", "")
    )
    keys = FileKeyStore(write_devnet_keys(home, {chain: info}, index=HOT_ACCOUNT))
    connect, sender = {
        "solana": (solana_adapters.connect, solana_adapters.SolanaSender),
        "tron": (tron_adapters.connect, tron_adapters.TronSender),
    }[chain]
    rpc: Any = connect(urls or [devnet.url])
    try:
        yield sender(rpc, settings.tokens(chain), keys, poll_seconds=0.1)
    finally:
        for endpoint in rpc.endpoints:
            await endpoint.client.close()


async def broadcast_and_confirm(sender: ChainSender, signed: list[Signed]) -> None:
    for raw, _, _ in signed:
        assert await sender.broadcast(raw) is None

    async def all_confirmed() -> bool:
        checks = [await sender.check(tx_id, expiry) for _, tx_id, expiry in signed]
        return all(state == "confirmed" for state, _ in checks)

    await eventually(all_confirmed, timeout=30)


async def test_close_solana_signers_share_a_blockhash_and_all_land(
    solana_sender: solana_adapters.SolanaSender,
) -> None:
    sender = solana_sender
    sol = sender.tokens.native
    amount = to_base_units(Decimal("0.002"), sol.decimals)
    signed = await asyncio.gather(
        *(sender.sign(sol, str(Keypair().pubkey()), amount) for _ in range(5))
    )
    assert sender.rpc.calls["getLatestBlockhash"] == 1
    assert len({tx_id for _, tx_id, _ in signed}) == 5
    assert len({expiry for _, _, expiry in signed}) == 1
    await broadcast_and_confirm(sender, signed)

    await asyncio.sleep(solana_adapters.BLOCKHASH_REUSE + 0.1)
    later = await sender.sign(sol, str(Keypair().pubkey()), amount)
    assert sender.rpc.calls["getLatestBlockhash"] == 2
    assert later[2] > signed[0][2]  # a newer blockhash, valid for longer


async def test_solana_balance_check_refuses_what_the_hot_wallet_cannot_pay(
    solana_sender: solana_adapters.SolanaSender, solana_devnet: Any
) -> None:
    sender = solana_sender
    sol = sender.tokens.native
    usdc = sender.tokens.by_symbol(solana_devnet.info()["spl_symbol"])
    assert usdc is not None
    new = str(Keypair().pubkey())
    await sender.check_funds(sol, new, 1_000_000)  # enough for a new account's rent exemption
    with pytest.raises(InsufficientFunds, match=r"send at least 0\.00089088 SOL"):
        await sender.check_funds(sol, new, 1_000)  # dust to a new account could never land
    with pytest.raises(InsufficientFunds, match=r"hot wallet has \d+ lamports, needs"):
        await sender.check_funds(sol, new, 10**18)
    with pytest.raises(InsufficientFunds, match=r"hot wallet holds \d+ base units of USDC"):
        await sender.check_funds(usdc, new, 10**18)


async def finalized_past(sender: solana_adapters.SolanaSender, height: int) -> bool:
    return bool((await sender.rpc.primary.get_block_height(Finalized)).value > height)


async def test_solana_expiry_is_not_proven_by_a_node_behind_the_finalized_height(
    solana_devnet: Any, tmp_path: Path
) -> None:
    """Failover splits an expiry check over two nodes: the finalized height from the first,
    the signature lookup from a second one that lags behind it. That node not knowing a
    transaction that did land proves nothing: "expired" there would allow a re-sign, a
    second transfer. The check must stay "pending"."""
    from devnet.solana import SolanaDevnet, SolanaDevnetConfig

    behind = SolanaDevnet(SolanaDevnetConfig(slot_ms=0, accounts=2))  # stays at its first slot
    await behind.start()
    try:
        async for sender in _sender(
            "solana", solana_devnet, tmp_path, urls=[solana_devnet.url, behind.url]
        ):
            raw, tx_id, expiry = await sender.sign(
                sender.tokens.native, str(Keypair().pubkey()), 2_000_000
            )
            assert await sender.broadcast(raw) is None
            # Landed, finalized, and its blockhash dead on finalized data:
            await eventually(partial(finalized_past, sender, expiry), timeout=60)
            assert await sender.check(tx_id, expiry) == ("confirmed", None)
            solana_devnet.faults.update(
                {"error_rate": 1.0, "only_methods": ["getSignatureStatuses"]}
            )
            assert await sender.check(tx_id, expiry) == ("pending", None)
            assert sender.rpc.calls["getSignatureStatuses"] >= 3  # the lagging node answered
    finally:
        await behind.stop()


async def solid_head_past(sender: tron_adapters.TronSender, ts: int) -> bool:
    return (await sender._solid_head())[0] > ts


async def test_tron_expiry_is_not_proven_by_another_node(tron_devnet: Any, tmp_path: Path) -> None:
    """As for Solana: the solid head read on one node, the lookup answered by another that
    never saw the transaction (a node behind, here another chain altogether). "Not found"
    there proves nothing; only the head's own node can say "expired"."""
    from devnet.tron import TronDevnet, TronDevnetConfig

    other = TronDevnet(TronDevnetConfig(block_ms=200, solid_lag=2, accounts=2))
    await other.start()
    try:
        async for sender in _sender(
            "tron", tron_devnet, tmp_path, urls=[tron_devnet.url, other.url]
        ):
            sender.expiration_ms = 2_000  # a short-lived transfer, so that its expiry passes soon
            to = str(PrivateKey.random().public_key.to_base58check_address())
            raw, tx_id, expiry = await sender.sign(sender.tokens.native, to, 1_000_000)
            assert await sender.broadcast(raw) is None
            await eventually(partial(solid_head_past, sender, expiry), timeout=60)
            assert await sender.check(tx_id, expiry) == ("confirmed", None)
            tron_devnet.faults.update(
                {"error_rate": 1.0, "only_methods": ["gettransactioninfobyid"]}
            )
            assert await sender.check(tx_id, expiry) == ("pending", None)
    finally:
        await other.stop()


async def test_tron_token_withdrawals_share_one_energy_price_and_all_land(
    tron_sender: tron_adapters.TronSender, tron_devnet: Any
) -> None:
    sender = tron_sender
    usdt = sender.tokens.by_symbol(tron_devnet.info()["trc20_symbol"])
    assert usdt is not None and not usdt.native
    recipients = [str(PrivateKey.random().public_key.to_base58check_address()) for _ in range(3)]
    for to in recipients:
        await sender.check_funds(usdt, to, 1_000)
    signed = await asyncio.gather(*(sender.sign(usdt, to, 1_000) for to in recipients))
    assert sender.rpc.calls["wallet/getchainparameters"] == 1

    # Just built, they can't be in solidified data: the solid head alone says so.
    checks = [await sender.check(tx_id, expiry) for _, tx_id, expiry in signed]
    assert checks == [("pending", None)] * len(signed)
    assert sender.rpc.calls["walletsolidity/gettransactioninfobyid"] == 0

    # fee_limit: the node's energy estimate for that very call, at the price, with the margin.
    for raw, _, _ in signed:
        data = json.loads(raw)["raw_data"]
        call = data["contract"][0]["parameter"]["value"]["data"]
        estimate = await sender._constant(
            sender.hot_wallet(), usdt.id, tron.TRANSFER_SELECTOR, call[8:]
        )
        price = tron_devnet.config.energy_price
        assert data["fee_limit"] == estimate["energy_used"] * price * 150 // 100
    await broadcast_and_confirm(sender, signed)


async def test_send_and_confirm_resends_only_what_no_node_answered(
    tron_sender: tron_adapters.TronSender, tron_devnet: Any, pool: asyncpg.Pool
) -> None:
    """A TRON node keeps accepted bytes until they expire, so an answered broadcast is not
    repeated at every look; one whose answer was lost goes out again at the next look."""
    sender = tron_sender
    sender.rpc.rounds = 1  # one attempt per broadcast: count send_and_confirm's own re-sends
    activities = WithdrawalActivities(sender, pool, Policy())
    trx = sender.tokens.native

    beats: list[tuple[object, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    async def broadcasts_until_confirmed() -> int:
        to = str(PrivateKey.random().public_key.to_base58check_address())
        raw, tx_id, expiry = await sender.sign(trx, to, 1_000_000)
        signed = SignedVersion(
            request_id=f"resend-{tx_id[:12]}",
            chain="tron",
            version=1,
            tx_id=tx_id,
            raw=base64.b64encode(raw).decode(),
            expiry=expiry,
        )
        before = sender.rpc.calls["wallet/broadcasttransaction"]
        outcome = await env.run(activities.send_and_confirm, signed)
        assert outcome.result == "confirmed", outcome
        return sender.rpc.calls["wallet/broadcasttransaction"] - before

    assert sender.resend_seconds > 5  # far longer than this transfer takes to solidify
    assert await broadcasts_until_confirmed() == 1
    assert beats == []  # decided within seconds: not one heartbeat (each is a server write)

    tron_devnet.faults.update({"lost_response_rate": 1.0, "only_methods": ["broadcasttransaction"]})
    try:
        assert await broadcasts_until_confirmed() >= 2
    finally:
        tron_devnet.faults.update({"lost_response_rate": 0.0, "only_methods": None})


def second_name(url: str) -> str:
    """The devnet's URL by localhost: another provider by host:port, the same chain."""
    return url.replace("://127.0.0.1:", "://localhost:", 1)


async def still_undecided(activities: WithdrawalActivities, signed: SignedVersion) -> bool:
    """Whether send_and_confirm is still without an outcome after a few looks (the workflow
    then gets none within UNDECIDED_AFTER and hands the withdrawal to manual review)."""
    try:
        outcome = await asyncio.wait_for(
            ActivityEnvironment().run(activities.send_and_confirm, signed), timeout=3
        )
    except TimeoutError:
        return True
    raise AssertionError(f"decided on a liar's word: {outcome}")


def version_of(chain: str, signed: Signed) -> SignedVersion:
    raw, tx_id, expiry = signed
    return SignedVersion(
        request_id=f"liar-{tx_id[:12]}",
        chain=chain,
        version=1,
        tx_id=tx_id,
        raw=base64.b64encode(raw).decode(),
        expiry=expiry,
    )


async def test_solana_one_lying_provider_cannot_prove_a_version_dead(
    solana_devnet: Any, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """A provider claims a finalized height far past every expiry and hides every signature.
    With the quorum of 2 (the liar and an honest node): a version not yet expired stays
    "pending", so nothing is re-signed and the withdrawal goes to manual review; a version
    that did land is "confirmed" by the honest node. Two honest providers past the expiry
    prove it dead: "expired", and the workflow signs the next version."""
    liar = await LyingNode(solana_devnet.url).start()
    try:
        async for sender in _sender(
            "solana", solana_devnet, tmp_path, urls=[liar.url, solana_devnet.url]
        ):
            sol = sender.tokens.native
            # Never sent (every broadcast fails), expiry minutes away by the honest node:
            solana_devnet.faults.update({"error_rate": 1.0, "only_methods": ["sendTransaction"]})
            unsent = await sender.sign(sol, str(Keypair().pubkey()), 2_000_000)
            state, detail = await sender.check(unsent[1], unsent[2])
            assert state == "pending", detail
            assert "proven by 1 of 2 providers, 2 needed" in (detail or "")
            assert liar.lies["getEpochInfo"] and liar.lies["getSignatureStatuses"]  # it lied
            activities = WithdrawalActivities(sender, pool, Policy())
            assert await still_undecided(activities, version_of("solana", unsent))
            solana_devnet.faults.update({"error_rate": 0.0, "only_methods": None})

            # Landed and finalized; the liar hides it, the honest node has it:
            landed = await sender.sign(sol, str(Keypair().pubkey()), 2_000_000)
            assert await sender.broadcast(landed[0]) is None
            honest = sender.rpc.endpoints[1].client
            await eventually(partial(_finalized_on, honest, landed[1]), timeout=30)
            assert await sender.check(landed[1], landed[2]) == ("confirmed", None)

        # Two honest providers (one devnet by two names), past the unsent version's expiry:
        async for sender in _sender(
            "solana",
            solana_devnet,
            tmp_path,
            urls=[solana_devnet.url, second_name(solana_devnet.url)],
        ):
            await eventually(partial(finalized_past, sender, unsent[2]), timeout=120)
            state, detail = await sender.check(unsent[1], unsent[2])
            assert state == "expired" and "2 of 2 providers" in (detail or ""), detail
            outcome = await ActivityEnvironment().run(
                WithdrawalActivities(sender, pool, Policy()).send_and_confirm,
                version_of("solana", unsent),
            )
            assert outcome.result == "expired", outcome  # the workflow re-signs on this

        # A single provider, honest or not, never proves it: fewer than the quorum.
        async for sender in _sender("solana", solana_devnet, tmp_path):
            state, detail = await sender.check(unsent[1], unsent[2])
            assert state == "pending" and "1 configured" in (detail or ""), detail
    finally:
        solana_devnet.faults.update({"error_rate": 0.0, "only_methods": None})
        await liar.stop()


async def _finalized_on(client: Any, tx_id: str) -> bool:
    resp = await client.get_signature_statuses(
        [Signature.from_string(tx_id)], search_transaction_history=True
    )
    status = resp.value[0]
    return (
        status is not None and status.confirmation_status == TransactionConfirmationStatus.Finalized
    )


async def test_tron_one_lying_provider_cannot_prove_a_version_dead(
    tron_devnet: Any, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """As for Solana: a provider whose solid head runs a day ahead and that has no receipt of
    anything. With it and an honest node (quorum 2), a version not yet expired stays
    "pending" and one that landed is "confirmed"; two honest providers past the expiry say
    "expired"."""
    liar = await LyingNode(tron_devnet.url).start()
    try:
        async for sender in _sender(
            "tron", tron_devnet, tmp_path, urls=[liar.url, tron_devnet.url]
        ):
            sender.expiration_ms = 4_000
            trx = sender.tokens.native
            tron_devnet.faults.update({"error_rate": 1.0, "only_methods": ["broadcasttransaction"]})
            to = str(PrivateKey.random().public_key.to_base58check_address())
            unsent = await sender.sign(trx, to, 1_000_000)
            state, detail = await sender.check(unsent[1], unsent[2])
            assert state == "pending", detail
            assert "proven by 1 of 2 providers, 2 needed" in (detail or "")
            assert liar.lies["/walletsolidity/gettransactioninfobyid"]  # it lied
            activities = WithdrawalActivities(sender, pool, Policy())
            assert await still_undecided(activities, version_of("tron", unsent))
            tron_devnet.faults.update({"error_rate": 0.0, "only_methods": None})

            landed = await sender.sign(trx, to, 1_000_000)
            assert await sender.broadcast(landed[0]) is None
            honest = sender.rpc.endpoints[1].client
            await eventually(partial(_solid_on, honest, landed[1]), timeout=30)
            assert await sender.check(landed[1], landed[2]) == ("confirmed", None)

        async for sender in _sender(
            "tron", tron_devnet, tmp_path, urls=[tron_devnet.url, second_name(tron_devnet.url)]
        ):
            sender.expiration_ms = 4_000
            await eventually(partial(solid_head_past, sender, unsent[2]), timeout=60)
            state, detail = await sender.check(unsent[1], unsent[2])
            assert state == "expired" and "2 of 2 providers" in (detail or ""), detail
    finally:
        tron_devnet.faults.update({"error_rate": 0.0, "only_methods": None})
        await liar.stop()


async def _solid_on(client: Any, tx_id: str) -> bool:
    path = "walletsolidity/gettransactioninfobyid"
    return bool(await client.provider.make_request(path, {"value": tx_id}))
