"""The Solana devnet seen through the real clients: solana-py's AsyncClient, solders, spl.

Most tests drive blocks by hand (`slot_ms=0`, `advance()`), so commitment levels are exact;
one test uses a running slot clock and polls like production code does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders import system_program
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.rpc.responses import IsBlockhashValidResp
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_associated_token_account,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from devnet.solana import SolanaDevnet, SolanaDevnetConfig
from tests.devnet.solana_support import (
    SOL,
    as_json,
    funded,
    legacy_tx,
    running,
    set_faults,
    signed,
    sol_transfer,
)

FINALIZED_LAG = 5
FEE = 5000


@pytest_asyncio.fixture(scope="module")
async def manual() -> AsyncIterator[SolanaDevnet]:
    """Blocks only advance when a test says so."""
    config = SolanaDevnetConfig(
        slot_ms=0, confirmed_lag=1, finalized_lag=FINALIZED_LAG, skip_every=4
    )
    async with running(config) as devnet:
        yield devnet


@pytest_asyncio.fixture
async def client(manual: SolanaDevnet) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(manual.url) as rpc:
        yield rpc


def finalize(devnet: SolanaDevnet) -> None:
    devnet.advance(FINALIZED_LAG + 1)


async def blockhash_valid(url: str, blockhash: Hash) -> bool:
    """isBlockhashValid (AsyncClient has no wrapper), parsed by solders."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "isBlockhashValid",
        "params": [str(blockhash), {"commitment": "processed"}],
    }
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        parsed = IsBlockhashValidResp.from_json(await resp.text())
    assert isinstance(parsed, IsBlockhashValidResp), parsed
    return parsed.value


def preflight_error(
    exc: pytest.ExceptionInfo[RPCException],
) -> SendTransactionPreflightFailureMessage:
    error = exc.value.args[0]
    assert isinstance(error, SendTransactionPreflightFailureMessage), error
    return error


# ---- SOL -------------------------------------------------------------------------------


async def test_sol_transfer_finalizes_with_a_running_clock() -> None:
    devnet = SolanaDevnet(SolanaDevnetConfig(slot_ms=20, finalized_lag=3))
    await devnet.start()
    try:
        async with AsyncClient(devnet.url) as rpc:
            payer, dest = funded(devnet, 0), Keypair().pubkey()
            before = (await rpc.get_balance(payer.pubkey(), Processed)).value
            tx = await signed(rpc, payer, [sol_transfer(payer, dest, 2 * SOL)])
            sig = (await rpc.send_transaction(tx)).value
            seen = []
            for _ in range(200):
                status = (await rpc.get_signature_statuses([sig])).value[0]
                if status is not None:
                    seen.append(status.confirmation_status)
                    if status.confirmation_status == TransactionConfirmationStatus.Finalized:
                        assert status.confirmations is None
                        break
                await asyncio.sleep(0.01)
            assert seen and seen[-1] == TransactionConfirmationStatus.Finalized
            assert seen[0] != TransactionConfirmationStatus.Finalized  # it was not born final

            got = (await rpc.get_transaction(sig, max_supported_transaction_version=0)).value
            assert got is not None and got.block_time is not None
            meta = got.transaction.meta
            assert meta is not None and meta.err is None and meta.fee == FEE
            keys = [
                Pubkey.from_string(k) for k in as_json(got)["transaction"]["message"]["accountKeys"]
            ]
            i_payer, i_dest = keys.index(payer.pubkey()), keys.index(dest)
            assert meta.pre_balances[i_payer] == before
            assert meta.post_balances[i_payer] == before - 2 * SOL - FEE
            assert (meta.pre_balances[i_dest], meta.post_balances[i_dest]) == (0, 2 * SOL)
            assert (await rpc.get_balance(dest, Finalized)).value == 2 * SOL
    finally:
        await devnet.stop()


async def test_commitment_levels_of_reads(manual: SolanaDevnet, client: AsyncClient) -> None:
    payer, dest = funded(manual, 1), Keypair().pubkey()
    sig = (
        await client.send_transaction(await signed(client, payer, [sol_transfer(payer, dest, SOL)]))
    ).value

    status = (await client.get_signature_statuses([sig])).value[0]
    assert (
        status is not None and status.confirmation_status == TransactionConfirmationStatus.Processed
    )
    assert status.confirmations == 0
    assert (await client.get_balance(dest, Processed)).value == SOL
    assert (await client.get_balance(dest, Finalized)).value == 0
    assert (await client.get_transaction(sig, commitment=Confirmed)).value is None
    with pytest.raises(RPCException, match="commitment below"):
        await client.get_transaction(sig, commitment=Processed)

    manual.advance(1)
    status = (await client.get_signature_statuses([sig])).value[0]
    assert (
        status is not None and status.confirmation_status == TransactionConfirmationStatus.Confirmed
    )
    assert status.confirmations == 1
    assert (await client.get_balance(dest, Confirmed)).value == SOL
    assert (await client.get_balance(dest, Finalized)).value == 0
    assert (await client.get_transaction(sig, commitment=Confirmed)).value is not None
    assert (await client.get_transaction(sig)).value is None  # default commitment: finalized

    finalize(manual)
    assert (await client.get_balance(dest, Finalized)).value == SOL
    assert (await client.get_transaction(sig)).value is not None

    # Skipped slots make slot and block height drift apart, as on a real cluster.
    slot = (await client.get_slot(Processed)).value
    height = (await client.get_block_height(Processed)).value
    assert slot > height
    latest = (await client.get_latest_blockhash(Processed)).value
    assert latest.last_valid_block_height == height + 150


# ---- SPL and Token-2022 ------------------------------------------------------------------


async def test_ata_creation_and_transfer_checked(manual: SolanaDevnet, client: AsyncClient) -> None:
    info = manual.info()
    mint = Pubkey.from_string(info["spl_mint"])
    payer, owner = funded(manual, 2), Keypair().pubkey()
    source = get_associated_token_address(payer.pubkey(), mint)
    ata = get_associated_token_address(owner, mint)

    def pay(amount: int) -> Instruction:
        return transfer_checked(
            TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=source,
                mint=mint,
                dest=ata,
                owner=payer.pubkey(),
                amount=amount,
                decimals=6,
            )
        )

    create = [create_associated_token_account(payer.pubkey(), owner, mint), pay(5_000_000)]
    sig_create = (await client.send_transaction(await signed(client, payer, create))).value
    manual.advance(1)
    sig_pay = (await client.send_transaction(await signed(client, payer, [pay(2_500_000)]))).value
    finalize(manual)

    got = (
        await client.get_transaction(sig_create, "jsonParsed", max_supported_transaction_version=0)
    ).value
    assert got is not None
    meta = got.transaction.meta
    assert meta is not None and meta.err is None
    body = as_json(got)["transaction"]
    keys = [Pubkey.from_string(k["pubkey"]) for k in body["message"]["accountKeys"]]
    i_ata = keys.index(ata)
    assert all(b.account_index != i_ata for b in (meta.pre_token_balances or []))
    (post,) = [b for b in (meta.post_token_balances or []) if b.account_index == i_ata]
    assert (post.owner, post.mint, post.program_id) == (owner, mint, TOKEN_PROGRAM_ID)
    assert post.ui_token_amount.amount == "5000000"
    assert post.ui_token_amount.ui_amount_string == "5"
    (src_pre,) = [b for b in (meta.pre_token_balances or []) if b.owner == payer.pubkey()]
    (src_post,) = [b for b in (meta.post_token_balances or []) if b.owner == payer.pubkey()]
    assert int(src_pre.ui_token_amount.amount) - int(src_post.ui_token_amount.amount) == 5_000_000
    parsed = body["message"]["instructions"]
    assert parsed[0]["parsed"]["type"] == "create"
    assert parsed[1]["parsed"]["type"] == "transferChecked"
    assert parsed[1]["parsed"]["info"]["tokenAmount"]["amount"] == "5000000"

    # The owner is an account key of the ATA-creating transaction only; the later plain
    # transfer_checked into the existing ATA is listed under the ATA, not the owner.
    by_owner = [s.signature for s in (await client.get_signatures_for_address(owner)).value]
    assert by_owner == [sig_create]
    by_ata = [s.signature for s in (await client.get_signatures_for_address(ata)).value]
    assert by_ata == [sig_pay, sig_create]

    balance = (await client.get_token_account_balance(ata)).value
    assert (balance.amount, balance.decimals, balance.ui_amount_string) == ("7500000", 6, "7.5")
    accounts = (
        await client.get_token_accounts_by_owner_json_parsed(owner, TokenAccountOpts(mint=mint))
    ).value
    assert [a.pubkey for a in accounts] == [ata]
    parsed_account = as_json(accounts[0])["account"]["data"]["parsed"]
    assert parsed_account["info"]["tokenAmount"]["amount"] == "7500000"


async def test_token_2022_transfer_checked(manual: SolanaDevnet, client: AsyncClient) -> None:
    mint = Pubkey.from_string(manual.info()["token2022_mint"])
    payer, owner = funded(manual, 3), Keypair().pubkey()
    source = get_associated_token_address(payer.pubkey(), mint, TOKEN_2022_PROGRAM_ID)
    ata = get_associated_token_address(owner, mint, TOKEN_2022_PROGRAM_ID)
    ixs = [
        create_idempotent_associated_token_account(
            payer.pubkey(), owner, mint, TOKEN_2022_PROGRAM_ID
        ),
        transfer_checked(
            TransferCheckedParams(
                program_id=TOKEN_2022_PROGRAM_ID,
                source=source,
                mint=mint,
                dest=ata,
                owner=payer.pubkey(),
                amount=1_234_567,
                decimals=6,
            )
        ),
    ]
    sig = (await client.send_transaction(await signed(client, payer, ixs))).value
    finalize(manual)
    got = (await client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert got is not None and got.transaction.meta is not None
    (post,) = [b for b in (got.transaction.meta.post_token_balances or []) if b.owner == owner]
    assert post.program_id == TOKEN_2022_PROGRAM_ID
    assert post.ui_token_amount.amount == "1234567"
    assert post.ui_token_amount.ui_amount_string == "1.234567"
    accounts = (
        await client.get_token_accounts_by_owner_json_parsed(
            owner, TokenAccountOpts(program_id=TOKEN_2022_PROGRAM_ID)
        )
    ).value
    assert [a.pubkey for a in accounts] == [ata]
    data = as_json(accounts[0])["account"]["data"]
    assert data["program"] == "spl-token-2022"
    assert data["parsed"]["info"]["extensions"] == [{"extension": "immutableOwner"}]


# ---- history -------------------------------------------------------------------------


async def test_signatures_for_address_paging(manual: SolanaDevnet, client: AsyncClient) -> None:
    payer, target = funded(manual, 4), Keypair().pubkey()
    sigs = []
    for i in range(7):
        tx = await signed(client, payer, [sol_transfer(payer, target, SOL + i)])
        sigs.append((await client.send_transaction(tx)).value)
        if i % 3 == 2:
            manual.advance(1)
    finalize(manual)
    newest_first = list(reversed(sigs))

    page = (await client.get_signatures_for_address(target, limit=3)).value
    assert [s.signature for s in page] == newest_first[:3]
    assert all(s.confirmation_status == TransactionConfirmationStatus.Finalized for s in page)
    assert [s.slot for s in page] == sorted((s.slot for s in page), reverse=True)
    page2 = (
        await client.get_signatures_for_address(target, before=page[-1].signature, limit=3)
    ).value
    assert [s.signature for s in page2] == newest_first[3:6]
    rest = (await client.get_signatures_for_address(target, before=page2[-1].signature)).value
    assert [s.signature for s in rest] == newest_first[6:]
    until = (await client.get_signatures_for_address(target, until=sigs[2])).value
    assert [s.signature for s in until] == newest_first[:4]
    unknown = Signature.from_bytes(bytes(64))
    assert (await client.get_signatures_for_address(target, before=unknown)).value == []

    # Finalized-only by default: a new transaction shows up at confirmed first.
    late = (
        await client.send_transaction(
            await signed(client, payer, [sol_transfer(payer, target, SOL)])
        )
    ).value
    manual.advance(1)
    assert (await client.get_signatures_for_address(target, limit=1)).value[0].signature == sigs[-1]
    confirmed = (
        await client.get_signatures_for_address(target, limit=1, commitment=Confirmed)
    ).value
    assert confirmed[0].signature == late
    assert confirmed[0].confirmation_status == TransactionConfirmationStatus.Confirmed
    finalize(manual)
    assert (await client.get_signatures_for_address(target, limit=1)).value[0].signature == late

    with pytest.raises(RPCException, match="Invalid limit"):
        await client.get_signatures_for_address(target, limit=1001)
    with pytest.raises(RPCException, match="commitment below"):
        await client.get_signatures_for_address(target, commitment=Processed)


# ---- rejected transactions -----------------------------------------------------------


async def test_expired_blockhash_is_refused(manual: SolanaDevnet, client: AsyncClient) -> None:
    payer = funded(manual, 5)
    latest = (await client.get_latest_blockhash(Processed)).value
    tx = legacy_tx([payer], [sol_transfer(payer, Keypair().pubkey(), SOL)], latest.blockhash)
    manual.advance(151)
    height = (await client.get_block_height(Processed)).value
    assert height > latest.last_valid_block_height
    assert await blockhash_valid(manual.url, latest.blockhash) is False
    with pytest.raises(RPCException) as exc:
        await client.send_transaction(tx, TxOpts(preflight_commitment=Processed))
    error = preflight_error(exc)
    assert error.message == "Transaction simulation failed: Blockhash not found"
    unknown = legacy_tx([payer], [sol_transfer(payer, Keypair().pubkey(), SOL)], Hash.new_unique())
    with pytest.raises(RPCException, match="Blockhash not found"):
        await client.send_transaction(unknown)
    # With skipPreflight the node takes it and the leader drops it: it never lands.
    sig = (await client.send_transaction(tx, TxOpts(skip_preflight=True))).value
    finalize(manual)
    assert (await client.get_signature_statuses([sig], True)).value == [None]


async def test_duplicate_transaction_is_refused(manual: SolanaDevnet, client: AsyncClient) -> None:
    payer, dest = funded(manual, 5), Keypair().pubkey()
    tx = await signed(client, payer, [sol_transfer(payer, dest, SOL)])
    sig = (await client.send_transaction(tx)).value
    with pytest.raises(RPCException) as exc:
        await client.send_transaction(tx, TxOpts(preflight_commitment=Processed))
    assert preflight_error(exc).message.endswith("This transaction has already been processed")
    # Re-sending the same bytes is harmless: answered with the signature, never executed twice.
    assert (await client.send_transaction(tx, TxOpts(skip_preflight=True))).value == sig
    finalize(manual)
    with pytest.raises(RPCException, match="already been processed"):
        await client.send_transaction(tx)
    assert (await client.get_balance(dest)).value == SOL


async def test_bad_signature_is_refused(manual: SolanaDevnet, client: AsyncClient) -> None:
    payer, dest = funded(manual, 6), Keypair().pubkey()
    tx = await signed(client, payer, [sol_transfer(payer, dest, SOL)])
    raw = bytearray(bytes(tx))
    raw[10] ^= 0xFF  # inside the first signature
    with pytest.raises(RPCException) as exc:
        await client.send_raw_transaction(bytes(raw))
    assert "SignatureVerificationFailure" in str(exc.value)
    sig = (await client.send_raw_transaction(bytes(raw), TxOpts(skip_preflight=True))).value
    finalize(manual)
    assert (await client.get_signature_statuses([sig], True)).value == [None]
    assert (await client.get_balance(dest, Processed)).value == 0


async def test_insufficient_funds(manual: SolanaDevnet, client: AsyncClient) -> None:
    payer = funded(manual, 7)
    balance = (await client.get_balance(payer.pubkey(), Processed)).value
    tx = await signed(client, payer, [sol_transfer(payer, Keypair().pubkey(), balance * 2)])
    with pytest.raises(RPCException) as exc:
        await client.send_transaction(tx)
    error = preflight_error(exc)
    assert error.message == (
        "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1"
    )
    assert any("insufficient lamports" in line for line in error.data.logs or [])
    assert json.loads(error.to_json())["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert (await client.get_balance(payer.pubkey(), Processed)).value == balance

    # With skipPreflight it lands, fails, and pays the fee, like on a real cluster.
    sig = (await client.send_transaction(tx, TxOpts(skip_preflight=True))).value
    finalize(manual)
    status = (await client.get_signature_statuses([sig])).value[0]
    assert status is not None and status.err is not None
    got = (await client.get_transaction(sig)).value
    assert got is not None and got.transaction.meta is not None
    assert got.transaction.meta.err is not None
    assert got.transaction.meta.fee == FEE
    assert (await client.get_balance(payer.pubkey())).value == balance - FEE
    listed = (await client.get_signatures_for_address(payer.pubkey(), limit=1)).value[0]
    assert listed.signature == sig and listed.err is not None


async def test_versioned_transaction_needs_max_supported_version(
    manual: SolanaDevnet, client: AsyncClient
) -> None:
    payer, dest = funded(manual, 8), Keypair().pubkey()
    blockhash = (await client.get_latest_blockhash()).value.blockhash
    message = MessageV0.try_compile(payer.pubkey(), [sol_transfer(payer, dest, SOL)], [], blockhash)
    sig = (await client.send_transaction(VersionedTransaction(message, [payer]))).value
    finalize(manual)
    with pytest.raises(RPCException, match="maxSupportedTransactionVersion"):
        await client.get_transaction(sig)
    got = (await client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert got is not None and got.transaction.version == 0


# ---- wire level ----------------------------------------------------------------------


async def test_batch_request_and_unknown_method(manual: SolanaDevnet) -> None:
    payer = funded(manual, 0)
    body = [
        {"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": [{"commitment": "processed"}]},
        {"jsonrpc": "2.0", "id": 2, "method": "getBalance", "params": [str(payer.pubkey())]},
        {"jsonrpc": "2.0", "id": 3, "method": "getNoSuchThing", "params": []},
    ]
    async with aiohttp.ClientSession() as http, http.post(manual.url, json=body) as resp:
        assert resp.status == 200
        replies = await resp.json()
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert replies[0]["result"] == manual.chain.slot
    assert replies[1]["result"]["value"] > 0 and "apiVersion" in replies[1]["result"]["context"]
    assert replies[2]["error"] == {"code": -32601, "message": "Method not found"}


# ---- faults --------------------------------------------------------------------------


@pytest_asyncio.fixture
async def faulty() -> AsyncIterator[SolanaDevnet]:
    async with running(SolanaDevnetConfig(slot_ms=0, finalized_lag=2)) as devnet:
        yield devnet


def http_status(exc: BaseException) -> int | None:
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    return getattr(response, "status_code", None)


async def test_fault_knobs(faulty: SolanaDevnet) -> None:
    async with AsyncClient(faulty.url) as rpc:
        await set_faults(faulty, error_rate=1.0)
        with pytest.raises(SolanaRpcException) as exc:
            await rpc.get_slot()
        assert http_status(exc.value) == 503

        await set_faults(faulty, error_rate=0.0, rate_429=1.0)
        with pytest.raises(SolanaRpcException) as exc:
            await rpc.get_slot()
        assert http_status(exc.value) == 429

        await set_faults(faulty, rate_429=0.0, latency_ms=150)
        started = time.monotonic()
        await rpc.get_slot()
        assert time.monotonic() - started >= 0.15

        await set_faults(faulty, latency_ms=0, lost_response_rate=1.0)
        payer, dest = funded(faulty, 9), Keypair().pubkey()
        tx = await signed(rpc, payer, [sol_transfer(payer, dest, SOL)])
        with pytest.raises(SolanaRpcException):
            await rpc.send_transaction(tx)
        await set_faults(faulty, lost_response_rate=0.0)
        status = (await rpc.get_signature_statuses([tx.signatures[0]])).value[0]
        assert status is not None and status.err is None  # accepted although the reply was lost
        assert (await rpc.get_balance(dest, Processed)).value == SOL


# ---- persistence ---------------------------------------------------------------------


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = SolanaDevnetConfig(slot_ms=0, finalized_lag=2, state_path=tmp_path / "solana.json")
    first = SolanaDevnet(config)
    await first.start()
    mint = Pubkey.from_string(first.info()["spl_mint"])
    payer, dest = funded(first, 0), Keypair().pubkey()
    async with AsyncClient(first.url) as rpc:
        ixs = [
            sol_transfer(payer, dest, 3 * SOL),
            create_associated_token_account(payer.pubkey(), dest, mint),
        ]
        sig = (await rpc.send_transaction(await signed(rpc, payer, ixs))).value
        first.advance(3)
        blockhash = (await rpc.get_latest_blockhash(Processed)).value.blockhash
        payer_balance = (await rpc.get_balance(payer.pubkey(), Processed)).value
    slot = first.chain.slot
    await first.stop()
    assert config.state_path is not None and config.state_path.exists()

    second = SolanaDevnet(config)
    await second.start()
    try:
        async with AsyncClient(second.url) as rpc:
            assert (await rpc.get_slot(Processed)).value == slot
            assert (await rpc.get_balance(dest)).value == 3 * SOL
            assert (await rpc.get_balance(payer.pubkey(), Processed)).value == payer_balance
            got = (await rpc.get_transaction(sig)).value
            assert got is not None and got.transaction.meta is not None
            assert (got.transaction.meta.post_token_balances or [])[0].owner == dest
            listed = (await rpc.get_signatures_for_address(dest)).value
            assert [s.signature for s in listed] == [sig]
            ata = get_associated_token_address(dest, mint)
            assert (await rpc.get_token_account_balance(ata)).value.amount == "0"
            assert await blockhash_valid(second.url, blockhash) is True
            # The chain goes on: new transactions land on top of the restored history.
            tx = legacy_tx([payer], [sol_transfer(payer, dest, SOL)], blockhash)
            await rpc.send_transaction(tx, TxOpts(preflight_commitment=Processed))
            assert (await rpc.get_balance(dest, Processed)).value == 4 * SOL
    finally:
        await second.stop()


async def test_account_fee_airdrop_and_simulation_methods(
    manual: SolanaDevnet, client: AsyncClient
) -> None:
    mint = Pubkey.from_string(manual.info()["spl_mint"])
    account = (await client.get_account_info(mint)).value
    assert account is not None and account.owner == TOKEN_PROGRAM_ID and len(account.data) == 82
    assert account.data[44] == 6  # decimals byte of the mint layout
    assert (await client.get_minimum_balance_for_rent_exemption(165)).value == 2_039_280
    nobody = Keypair().pubkey()
    many = (await client.get_multiple_accounts([mint, nobody])).value
    assert many[0] is not None and many[1] is None

    payer = funded(manual, 8)
    tx = await signed(client, payer, [sol_transfer(payer, nobody, SOL)])
    assert (await client.get_fee_for_message(tx.message)).value == FEE  # type: ignore[arg-type]
    simulated = (await client.simulate_transaction(tx)).value
    assert simulated.err is None and simulated.units_consumed == 150
    assert (await client.get_balance(nobody, Processed)).value == 0  # simulation changes nothing

    sig = (await client.request_airdrop(nobody, 7 * SOL)).value
    assert (await client.get_balance(nobody, Processed)).value == 7 * SOL
    status = (await client.get_signature_statuses([sig])).value[0]
    assert status is not None and status.err is None


async def test_durable_nonce_outlives_blockhash_expiry(
    manual: SolanaDevnet, client: AsyncClient
) -> None:
    payer, nonce = funded(manual, 9), Keypair()
    rent = (await client.get_minimum_balance_for_rent_exemption(80)).value
    setup = system_program.create_nonce_account(
        payer.pubkey(), nonce.pubkey(), payer.pubkey(), rent
    )
    blockhash = (await client.get_latest_blockhash()).value.blockhash
    await client.send_transaction(legacy_tx([payer, nonce], setup, blockhash))
    manual.advance(1)

    async def nonce_value() -> Hash:
        account = (await client.get_account_info(nonce.pubkey(), Processed)).value
        assert account is not None
        return Hash(bytes(account.data[40:72]))

    def pay_with_nonce(value: Hash, lamports: int) -> VersionedTransaction:
        advance = system_program.advance_nonce_account(
            system_program.AdvanceNonceAccountParams(
                nonce_pubkey=nonce.pubkey(), authorized_pubkey=payer.pubkey()
            )
        )
        ixs = [advance, sol_transfer(payer, Keypair().pubkey(), lamports)]
        return legacy_tx([payer], ixs, value)

    first = pay_with_nonce(await nonce_value(), SOL)
    stale = pay_with_nonce(await nonce_value(), 2 * SOL)
    manual.advance(200)  # far beyond any blockhash's 150 blocks
    sig = (await client.send_transaction(first, TxOpts(preflight_commitment=Processed))).value
    status = (await client.get_signature_statuses([sig])).value[0]
    assert status is not None and status.err is None
    # The nonce advanced, so a second transaction signed over the old value is dead.
    with pytest.raises(RPCException, match="Blockhash not found"):
        await client.send_transaction(stale, TxOpts(preflight_commitment=Processed))
