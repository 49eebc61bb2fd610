"""The TRON devnet, exercised only through real clients: tronpy's AsyncTron/AsyncHTTPProvider for
the full-node API and plain httpx for raw calls and the TronGrid routes.

Most tests run against a devnet without a block producer (`auto_produce=False`) and call
`advance()` themselves, so what is solid and what is not is exact rather than timing-dependent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tronpy import AsyncTron
from tronpy.abi import trx_abi
from tronpy.async_tron import AsyncTransaction, AsyncTransactionRet
from tronpy.exceptions import (
    AddressNotFound,
    BadSignature,
    BlockNotFound,
    TaposError,
    TransactionError,
    TvmError,
    UnknownError,
    ValidationError,
)
from tronpy.keys import PrivateKey, to_base58check_address, to_hex_address
from tronpy.proto import tron_pb2
from tronpy.proto.transaction import _raw_data_to_protobuf
from tronpy.providers.async_http import AsyncHTTPProvider

from devnet.tron import TronDevnet, TronDevnetConfig

SOLID_LAG = 3
ENERGY_PRICE = 210
TRX = 1_000_000
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


# ------------------------------------------------------------------------------------ fixtures


@pytest_asyncio.fixture(scope="module")
async def devnet() -> AsyncIterator[TronDevnet]:
    net = TronDevnet(
        TronDevnetConfig(
            auto_produce=False, solid_lag=SOLID_LAG, accounts=10, energy_price=ENERGY_PRICE
        )
    )
    await net.start()
    try:
        yield net
    finally:
        await net.stop()


@pytest_asyncio.fixture(scope="module")
async def tron(devnet: TronDevnet) -> AsyncIterator[AsyncTron]:
    async with AsyncTron(AsyncHTTPProvider(endpoint_uri=devnet.url)) as client:
        yield client


@pytest_asyncio.fixture(scope="module")
async def http(devnet: TronDevnet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=devnet.url, timeout=10) as client:
        yield client


class Wallet:
    def __init__(self, key: PrivateKey) -> None:
        self.key = key
        self.address = key.public_key.to_base58check_address()


def wallet(devnet: TronDevnet, index: int) -> Wallet:
    return Wallet(PrivateKey(bytes.fromhex(devnet.info()["accounts"][index]["private_key"])))


def fresh_wallet(label: str) -> Wallet:
    return Wallet(PrivateKey(hashlib.sha256(f"test-tron-{label}".encode()).digest()))


async def balance(tron: AsyncTron, address: str) -> int:
    """Balance in sun from the raw account reply (tronpy's helper returns a Decimal of TRX)."""
    account = await tron.get_account(address)
    return int(account.get("balance", 0))


async def token_balance(tron: AsyncTron, devnet: TronDevnet, address: str) -> int:
    contract = await tron.get_contract(devnet.info()["trc20_contract"])
    return int(await contract.functions.balanceOf(address))


async def included(devnet: TronDevnet, ret: AsyncTransactionRet) -> dict[str, Any]:
    devnet.advance(1)
    return await ret.wait(timeout=5, interval=0.01)


async def send_trx(
    devnet: TronDevnet, tron: AsyncTron, sender: Wallet, to: str, amount: int
) -> dict[str, Any]:
    tx = await tron.trx.transfer(sender.address, to, amount).build()
    return await included(devnet, await tx.sign(sender.key).broadcast())


async def token_transfer(
    tron: AsyncTron, devnet: TronDevnet, sender: Wallet, to: str, amount: int, fee_limit: int
) -> AsyncTransaction:
    contract = await tron.get_contract(devnet.info()["trc20_contract"])
    builder = await contract.functions.transfer(to, amount)
    tx = await builder.with_owner(sender.address).fee_limit(fee_limit).build()
    return tx.sign(sender.key)


async def offline_transfer(tron: AsyncTron, sender: str, to: str, amount: int) -> AsyncTransaction:
    """Built without asking the node (no getsignweight): signable by any key; broadcast it with
    `tron.broadcast(tx)` since an offline transaction has no client."""
    ref = await tron.get_latest_solid_block_id()
    return await tron.trx.transfer(sender, to, amount).build(offline=True, ref_block_id=ref)


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------------------ chain basics


async def test_genesis_is_deterministic_and_funded(devnet: TronDevnet, tron: AsyncTron) -> None:
    again = TronDevnet(TronDevnetConfig(accounts=10))
    assert again.info()["accounts"] == devnet.info()["accounts"]
    assert again.info()["trc20_contract"] == devnet.info()["trc20_contract"]
    info = devnet.info()
    assert info["trc20_symbol"] == "USDT" and info["decimals"] == 6
    assert set(info) == {
        "url",
        "accounts",
        "trc20_contract",
        "trc20_symbol",
        "decimals",
        "block_ms",
        "solid_lag",
    }
    last = wallet(devnet, 9)
    assert await balance(tron, last.address) == 1_000_000 * TRX
    assert await token_balance(tron, devnet, last.address) == 10**12
    contract = await tron.get_contract(info["trc20_contract"])
    assert await contract.functions.symbol() == "USDT"
    assert await contract.functions.name() == "Tether USD"
    assert await contract.functions.decimals() == 6
    assert await contract.functions.totalSupply() == 10 * 10**12


async def test_blocks_ids_and_solidity(devnet: TronDevnet, tron: AsyncTron) -> None:
    start = await tron.get_latest_block_number()
    devnet.advance(SOLID_LAG + 2)
    head = await tron.get_latest_block()
    number = head["block_header"]["raw_data"]["number"]
    assert number == start + SOLID_LAG + 2
    # A block id is the 8-byte number followed by the tail of the header hash.
    assert int(head["blockID"][:16], 16) == number
    parent = await tron.get_block(number - 1)
    assert head["block_header"]["raw_data"]["parentHash"] == parent["blockID"]
    assert await tron.get_block(head["blockID"]) == head
    node = await tron.get_node_info()
    assert node["block"] == f"Num:{number},ID:{head['blockID']}"
    assert await tron.get_latest_solid_block_number() == number - SOLID_LAG
    solid = await tron.get_latest_solid_block()
    assert solid["block_header"]["raw_data"]["number"] == number - SOLID_LAG
    assert "transactions" not in solid  # empty blocks print no list, as java-tron does
    genesis = await tron.get_block(0)
    assert "number" not in genesis["block_header"]["raw_data"]
    with pytest.raises(BlockNotFound):
        await tron.get_block(number + 100)


async def test_chain_parameters_carry_fees(tron: AsyncTron) -> None:
    params = {p["key"]: p.get("value", 0) for p in await tron.get_chain_parameters()}
    assert params["getEnergyFee"] == ENERGY_PRICE
    assert params["getTransactionFee"] == 1000
    assert params["getFreeNetLimit"] == 600
    assert params["getCreateNewAccountFeeInSystemContract"] == 1_000_000


# ------------------------------------------------------------------------------ TRX transfers


async def test_trx_transfer_moves_exact_amounts_and_solidifies(
    devnet: TronDevnet, tron: AsyncTron, http: httpx.AsyncClient
) -> None:
    sender, receiver = wallet(devnet, 0), wallet(devnet, 1)
    before_s, before_r = await balance(tron, sender.address), await balance(tron, receiver.address)
    tx = await tron.trx.transfer(sender.address, receiver.address, 3 * TRX).build()
    ret = await tx.sign(sender.key).broadcast()
    assert ret["result"] is True and ret.txid == tx.txid
    # Accepted but not in a block yet: a node has no receipt for it.
    assert await post(http, "/wallet/gettransactioninfobyid", {"value": ret.txid}) == {}
    info = await included(devnet, ret)
    assert info["id"] == ret.txid and "receipt" in info
    assert "result" not in info["receipt"]  # TRX transfers carry no receipt.result
    fee = info.get("fee", 0)
    assert await balance(tron, sender.address) == before_s - 3 * TRX - fee
    assert await balance(tron, receiver.address) == before_r + 3 * TRX

    on_chain = await tron.get_transaction(ret.txid)
    assert on_chain["ret"] == [{"contractRet": "SUCCESS"}]
    value = on_chain["raw_data"]["contract"][0]["parameter"]["value"]
    assert value == {
        "amount": 3 * TRX,
        "owner_address": sender.address,
        "to_address": receiver.address,
    }
    assert hashlib.sha256(bytes.fromhex(on_chain["raw_data_hex"])).hexdigest() == ret.txid

    # Solidity view: invisible until solid_lag more blocks.
    assert await post(http, "/walletsolidity/gettransactioninfobyid", {"value": ret.txid}) == {}
    devnet.advance(SOLID_LAG)
    solid = await ret.wait(timeout=5, interval=0.01, solid=True)
    assert solid == info
    assert (await tron.get_solid_transaction(ret.txid))["txID"] == ret.txid


async def test_bandwidth_is_free_then_burned(devnet: TronDevnet, tron: AsyncTron) -> None:
    sender, receiver = wallet(devnet, 2), wallet(devnet, 3)
    receipts = []
    for _ in range(3):
        before = await balance(tron, sender.address)
        info = await send_trx(devnet, tron, sender, receiver.address, TRX)
        receipts.append(info["receipt"])
        assert await balance(tron, sender.address) == before - TRX - info.get("fee", 0)
    # 600 free bytes a day: two ~267-byte transfers fit, the third burns 1000 sun per byte.
    assert "net_fee" not in receipts[0] and 250 < receipts[0]["net_usage"] < 300
    assert "net_fee" not in receipts[1]
    assert receipts[2]["net_fee"] == receipts[0]["net_usage"] * 1000
    resource = await tron.get_account_resource(sender.address)
    assert resource["freeNetLimit"] == 600
    used = receipts[0]["net_usage"] + receipts[1]["net_usage"]
    assert used - 2 <= resource["freeNetUsed"] <= used  # recovery may tick one slot meanwhile


async def test_transfer_to_new_account_pays_activation(devnet: TronDevnet, tron: AsyncTron) -> None:
    sender, newcomer = wallet(devnet, 4), fresh_wallet("activation")
    with pytest.raises(AddressNotFound):
        await tron.get_account(newcomer.address)
    before = await balance(tron, sender.address)
    info = await send_trx(devnet, tron, sender, newcomer.address, 2 * TRX)
    assert info["fee"] == 1_100_000 and info["receipt"] == {"net_fee": 100_000}
    assert await balance(tron, sender.address) == before - 2 * TRX - 1_100_000
    account = await tron.get_account(newcomer.address)
    assert account["balance"] == 2 * TRX and account["create_time"] > 0


async def test_insufficient_balance_is_refused(devnet: TronDevnet, tron: AsyncTron) -> None:
    poor = fresh_wallet("poor")
    await send_trx(devnet, tron, wallet(devnet, 4), poor.address, 2 * TRX)
    tx = await tron.trx.transfer(poor.address, wallet(devnet, 5).address, 5 * TRX).build()
    with pytest.raises(ValidationError, match="balance is not sufficient"):
        await tx.sign(poor.key).broadcast()
    assert await balance(tron, poor.address) == 2 * TRX
    # A nonexistent sender never reaches the actuator.
    ghost = fresh_wallet("ghost")
    tx = await offline_transfer(tron, ghost.address, poor.address, 1)
    with pytest.raises(ValidationError, match="account does not exist"):
        await tron.broadcast(tx.sign(ghost.key))


# --------------------------------------------------------------------------- refusals


async def test_forged_and_mismatched_signatures_are_refused(
    devnet: TronDevnet, tron: AsyncTron
) -> None:
    owner, thief = wallet(devnet, 5), fresh_wallet("thief")
    before = await balance(tron, owner.address)

    forged = await offline_transfer(tron, owner.address, thief.address, TRX)
    with pytest.raises(BadSignature, match=f"is signed by {thief.address}"):
        await tron.broadcast(forged.sign(thief.key))

    tampered = await offline_transfer(tron, owner.address, thief.address, TRX)
    tampered.sign(owner.key)
    # Raise the amount after signing: the node hashes the raw_data it got, not our txID.
    tampered._raw_data["contract"][0]["parameter"]["value"]["amount"] = 500 * TRX
    with pytest.raises(BadSignature, match="not contained of permission"):
        await tron.broadcast(tampered)

    garbage = await offline_transfer(tron, owner.address, thief.address, TRX)
    garbage.set_signature(["00" * 65])
    with pytest.raises(BadSignature):
        await tron.broadcast(garbage)

    short = await offline_transfer(tron, owner.address, thief.address, TRX)
    short.set_signature(["11" * 64])
    with pytest.raises(BadSignature, match="Signature size is 64"):
        await tron.broadcast(short)

    devnet.advance(1)
    assert await balance(tron, owner.address) == before


async def test_expired_transaction_is_refused(devnet: TronDevnet, tron: AsyncTron) -> None:
    sender, receiver = wallet(devnet, 5), wallet(devnet, 6).address
    tx = await tron.trx.transfer(sender.address, receiver, TRX).expiration(1000).build()
    tx.sign(sender.key)
    await asyncio.sleep(max(0.0, tx._raw_data["expiration"] / 1000 - time.time()) + 0.05)
    with pytest.raises(TransactionError, match="Transaction expired"):
        await tx.broadcast()
    # Like java-tron, a transaction that would expire before the next block slot (block_ms is
    # 3 s here, counted from the head block) is refused too, though it has not expired yet.
    devnet.advance(1)
    soon = await tron.trx.transfer(sender.address, receiver, 2).expiration(2000).build()
    with pytest.raises(TransactionError, match="Transaction expired"):
        await soon.sign(sender.key).broadcast()


async def test_resend_is_a_duplicate(devnet: TronDevnet, tron: AsyncTron) -> None:
    sender = wallet(devnet, 6)
    tx = await tron.trx.transfer(sender.address, wallet(devnet, 7).address, TRX).build()
    tx.sign(sender.key)
    ret = await tx.broadcast()
    with pytest.raises(UnknownError) as pending_dup:
        await tx.broadcast()
    assert pending_dup.value.args[1] == "DUP_TRANSACTION_ERROR"
    await included(devnet, ret)
    with pytest.raises(UnknownError) as mined_dup:
        await tx.broadcast()
    assert mined_dup.value.args == ("Transaction already exists.", "DUP_TRANSACTION_ERROR")


async def test_unknown_reference_block_is_a_tapos_error(tron: AsyncTron) -> None:
    key = fresh_wallet("tapos")
    builder = tron.trx.transfer(key.address, fresh_wallet("x").address, TRX)
    tx = await builder.build(offline=True, ref_block_id="00" * 6 + "ffff" + "ab" * 8 + "00" * 16)
    with pytest.raises(TaposError):
        await tron.broadcast(tx.sign(key.key))


async def test_broadcast_reply_shapes(
    devnet: TronDevnet, tron: AsyncTron, http: httpx.AsyncClient
) -> None:
    sender = wallet(devnet, 7)
    tx = await offline_transfer(tron, sender.address, wallet(devnet, 8).address, TRX)
    tx.sign(sender.key)
    body = tx.to_json()
    assert await post(http, "/wallet/broadcasttransaction", body) == {
        "result": True,
        "txid": tx.txid,
    }
    dup = await post(http, "/wallet/broadcasttransaction", body)
    assert dup["code"] == "DUP_TRANSACTION_ERROR" and dup["txid"] == tx.txid
    assert bytes.fromhex(dup["message"]).decode() == "Transaction already exists."
    assert "result" not in dup  # false is a default: java-tron leaves it out

    # broadcasthex: the protobuf bytes are the authority.
    tx2 = await offline_transfer(tron, sender.address, wallet(devnet, 8).address, 2 * TRX)
    tx2.sign(sender.key)
    signed = tron_pb2.Transaction(
        raw_data=_raw_data_to_protobuf(tx2._raw_data),
        signature=[bytes.fromhex(s) for s in tx2._signature],
    )
    reply = await post(
        http, "/wallet/broadcasthex", {"transaction": signed.SerializeToString().hex()}
    )
    assert reply["result"] is True and reply["code"] == "SUCCESS" and reply["txid"] == tx2.txid
    assert json.loads(reply["transaction"])["txID"] == tx2.txid
    devnet.advance(1)
    assert (await tron.get_transaction(tx2.txid))["txID"] == tx2.txid


async def test_node_built_transactions_broadcast(
    devnet: TronDevnet, tron: AsyncTron, http: httpx.AsyncClient
) -> None:
    """createtransaction / triggersmartcontract reply with transactions whose txID is the hash
    of raw_data_hex and whose TaPoS points at the head: sign the txID, broadcast the JSON."""
    sender, receiver = wallet(devnet, 6), wallet(devnet, 7)
    built = await post(
        http,
        "/wallet/createtransaction",
        {
            "owner_address": sender.address,
            "to_address": receiver.address,
            "amount": TRX,
            "visible": True,
        },
    )
    assert hashlib.sha256(bytes.fromhex(built["raw_data_hex"])).hexdigest() == built["txID"]
    built["signature"] = [sender.key.sign_msg_hash(bytes.fromhex(built["txID"])).hex()]
    assert (await post(http, "/wallet/broadcasttransaction", built))["result"] is True

    params = trx_abi.encode_single("(address,uint256)", [receiver.address, 5]).hex()
    trigger = await post(
        http,
        "/wallet/triggersmartcontract",
        {
            "owner_address": sender.address,
            "contract_address": devnet.info()["trc20_contract"],
            "function_selector": "transfer(address,uint256)",
            "parameter": params,
            "fee_limit": 10 * TRX,
            "visible": True,
        },
    )
    tx = trigger["transaction"]
    assert trigger["result"] == {"result": True} and tx["raw_data"]["fee_limit"] == 10 * TRX
    tx["signature"] = [sender.key.sign_msg_hash(bytes.fromhex(tx["txID"])).hex()]
    assert (await post(http, "/wallet/broadcasttransaction", tx))["result"] is True
    devnet.advance(1)
    info = await tron.get_transaction_info(tx["txID"])
    assert info["receipt"]["result"] == "SUCCESS"
    energy = await tron.get_estimated_energy(
        sender.address, devnet.info()["trc20_contract"], "transfer(address,uint256)", params
    )
    assert energy == info["receipt"]["energy_usage_total"]

    refused = await post(
        http,
        "/wallet/createtransaction",
        {
            "owner_address": sender.address,
            "to_address": receiver.address,
            "amount": 10**18,
            "visible": True,
        },
    )
    assert "balance is not sufficient" in refused["Error"]


# ---------------------------------------------------------------------------------- TRC20


async def test_trc20_transfer_emits_a_decodable_transfer_log(
    devnet: TronDevnet, tron: AsyncTron
) -> None:
    sender, holder, newcomer = wallet(devnet, 0), wallet(devnet, 1), fresh_wallet("token-new")
    contract = await tron.get_contract(devnet.info()["trc20_contract"])
    before_trx = await balance(tron, sender.address)
    before_tok = await token_balance(tron, devnet, sender.address)

    # Ask the node what the transfer costs, then set fee_limit with a margin.
    params = trx_abi.encode_single("(address,uint256)", [newcomer.address, 1_500_000]).hex()
    estimate = await tron.trigger_constant_contract(
        sender.address, contract.contract_address, "transfer(address,uint256)", params
    )
    assert estimate["energy_used"] == 29_650  # a new holder's balance slot costs extra
    fee_limit = estimate["energy_used"] * ENERGY_PRICE * 12 // 10

    tx = await token_transfer(tron, devnet, sender, newcomer.address, 1_500_000, fee_limit)
    ret = await tx.broadcast()
    info = await included(devnet, ret)
    receipt = info["receipt"]
    assert receipt["result"] == "SUCCESS" and "result" not in info
    assert receipt["energy_usage_total"] == 29_650
    assert receipt["energy_fee"] == 29_650 * ENERGY_PRICE
    assert info["fee"] == receipt["energy_fee"] + receipt.get("net_fee", 0)
    assert info["contract_address"] == contract.contract_address
    (log,) = info["log"]
    assert log["topics"][0] == TRANSFER_TOPIC
    assert to_base58check_address("41" + log["topics"][1][-40:]) == sender.address
    assert to_base58check_address("41" + log["topics"][2][-40:]) == newcomer.address
    assert int(log["data"], 16) == 1_500_000
    (event,) = contract.events.Transfer.process_receipt(info)
    assert event["args"] == {"from": sender.address, "to": newcomer.address, "value": 1_500_000}
    assert await ret.result(timeout=5, interval=0.01) is True

    assert await token_balance(tron, devnet, newcomer.address) == 1_500_000
    assert await token_balance(tron, devnet, sender.address) == before_tok - 1_500_000
    assert await balance(tron, sender.address) == before_trx - info["fee"]

    # Sending to an existing holder costs the cheaper storage write.
    tx = await token_transfer(tron, devnet, sender, holder.address, 1, fee_limit)
    info = await included(devnet, await tx.broadcast())
    assert info["receipt"]["energy_usage_total"] == 14_650


async def test_fee_limit_too_low_runs_out_of_energy(devnet: TronDevnet, tron: AsyncTron) -> None:
    sender, receiver = wallet(devnet, 2), wallet(devnet, 3)
    before_trx = await balance(tron, sender.address)
    before_tokens = (
        await token_balance(tron, devnet, sender.address),
        await token_balance(tron, devnet, receiver.address),
    )
    fee_limit = 5_000 * ENERGY_PRICE
    ret = await (
        await token_transfer(tron, devnet, sender, receiver.address, 7, fee_limit)
    ).broadcast()
    info = await included(devnet, ret)
    assert info["result"] == "FAILED" and "Not enough energy" in info["resMessage"]
    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    assert info["receipt"]["energy_fee"] == fee_limit  # the whole limit is burned
    assert "log" not in info
    assert (await tron.get_transaction(ret.txid))["ret"] == [{"contractRet": "OUT_OF_ENERGY"}]
    after_tokens = (
        await token_balance(tron, devnet, sender.address),
        await token_balance(tron, devnet, receiver.address),
    )
    assert after_tokens == before_tokens
    assert await balance(tron, sender.address) == before_trx - info["fee"]
    with pytest.raises(TvmError):
        await ret.result(timeout=5, interval=0.01)


async def test_token_overdraft_reverts_on_chain(devnet: TronDevnet, tron: AsyncTron) -> None:
    sender = wallet(devnet, 3)
    too_much = await token_balance(tron, devnet, sender.address) + 1
    contract = await tron.get_contract(devnet.info()["trc20_contract"])
    with pytest.raises(TvmError, match="transfer amount exceeds balance"):
        await tron.trigger_constant_contract(
            sender.address,
            contract.contract_address,
            "transfer(address,uint256)",
            trx_abi.encode_single("(address,uint256)", [wallet(devnet, 4).address, too_much]).hex(),
        )
    tx = await token_transfer(tron, devnet, sender, wallet(devnet, 4).address, too_much, 50 * TRX)
    ret = await tx.broadcast()
    info = await included(devnet, ret)
    assert info["receipt"]["result"] == "REVERT" and info["resMessage"] == "REVERT opcode executed"
    with pytest.raises(TvmError, match="transfer amount exceeds balance"):
        await ret.result(timeout=5, interval=0.01)


async def test_visible_false_speaks_hex(devnet: TronDevnet, http: httpx.AsyncClient) -> None:
    owner = wallet(devnet, 9)
    hex_address = to_hex_address(owner.address)
    account = await post(http, "/wallet/getaccount", {"address": hex_address})
    assert account["address"] == hex_address
    assert account["owner_permission"]["keys"][0]["address"] == hex_address
    # visible=true with a hex address is a client bug a real node refuses too.
    refused = await post(http, "/wallet/getaccount", {"address": hex_address, "visible": True})
    assert "Error" in refused
    # GET with a query string works as on java-tron.
    response = await http.get(
        "/wallet/getaccount", params={"address": owner.address, "visible": "true"}
    )
    assert response.json()["address"] == owner.address


async def test_solidity_account_view_lags(
    devnet: TronDevnet, tron: AsyncTron, http: httpx.AsyncClient
) -> None:
    sender, receiver = wallet(devnet, 8), fresh_wallet("solid-view")
    await send_trx(devnet, tron, sender, receiver.address, 5 * TRX)
    body = {"address": receiver.address, "visible": True}
    assert await post(http, "/walletsolidity/getaccount", body) == {}
    devnet.advance(SOLID_LAG)
    assert (await post(http, "/walletsolidity/getaccount", body))["balance"] == 5 * TRX


async def test_solidity_constant_calls_read_the_solidified_token_state(
    devnet: TronDevnet, tron: AsyncTron, http: httpx.AsyncClient
) -> None:
    """walletsolidity/triggerconstantcontract: balanceOf as of the solid head, behind the
    latest state until the transfer solidifies (reconcile compares with final data)."""
    sender, receiver = wallet(devnet, 2), fresh_wallet("solid-token")
    tx = await token_transfer(tron, devnet, sender, receiver.address, 2_000_000, 50 * TRX)
    await included(devnet, await tx.broadcast())
    body = {
        "owner_address": receiver.address,
        "contract_address": devnet.info()["trc20_contract"],
        "function_selector": "balanceOf(address)",
        "parameter": trx_abi.encode_single("address", receiver.address).hex(),
        "visible": True,
    }

    async def held(path: str) -> int:
        return int((await post(http, path, body))["constant_result"][0], 16)

    assert await held("/wallet/triggerconstantcontract") == 2_000_000
    assert await held("/walletsolidity/triggerconstantcontract") == 0
    devnet.advance(SOLID_LAG)
    assert await held("/walletsolidity/triggerconstantcontract") == 2_000_000


# -------------------------------------------------------------------------------- TronGrid


async def grid_pages(http: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Follow meta.links.next until the last page; return every item."""
    items: list[dict[str, Any]] = []
    response = await http.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["success"] is True and page["meta"]["page_size"] == len(page["data"])
        items += page["data"]
        if "fingerprint" not in page["meta"]:
            return items
        assert len(page["data"]) == params.get("limit", 20)
        response = await http.get(page["meta"]["links"]["next"])


@pytest_asyncio.fixture(scope="module")
async def history(devnet: TronDevnet, tron: AsyncTron) -> dict[str, Any]:
    """A watched address with 6 TRX in, 2 TRX out, 5 USDT in, 1 USDT out; the last TRX in and
    the last USDT in are not solidified yet."""
    watched, funder, other = fresh_wallet("grid-watched"), wallet(devnet, 7), wallet(devnet, 8)
    trx_in, trx_out, tok_in, tok_out, timestamps = [], [], [], [], []
    for i in range(5):
        info = await send_trx(devnet, tron, funder, watched.address, (20 + i) * TRX)
        trx_in.append(info["id"])
        timestamps.append(info["blockTimeStamp"])
        tx = await token_transfer(tron, devnet, funder, watched.address, 100 + i, 100 * TRX)
        tok_in.append((await included(devnet, await tx.broadcast()))["id"])
    for _ in range(2):
        trx_out.append((await send_trx(devnet, tron, watched, other.address, TRX))["id"])
    tx = await token_transfer(tron, devnet, watched, other.address, 50, 100 * TRX)
    tok_out.append((await included(devnet, await tx.broadcast()))["id"])
    devnet.advance(SOLID_LAG)
    trx_in.append((await send_trx(devnet, tron, funder, watched.address, 30 * TRX))["id"])
    tx = await token_transfer(tron, devnet, funder, watched.address, 999, 100 * TRX)
    tok_in.append((await included(devnet, await tx.broadcast()))["id"])
    return {
        "address": watched.address,
        "trx_in": trx_in,
        "trx_out": trx_out,
        "tok_in": tok_in,
        "tok_out": tok_out,
        "timestamps": timestamps,
        "unconfirmed": {trx_in[-1], tok_in[-1]},
    }


async def test_grid_transactions_paging_returns_each_item_once(
    http: httpx.AsyncClient, history: dict[str, Any]
) -> None:
    path = f"/v1/accounts/{history['address']}/transactions"
    expected = set(
        history["trx_in"] + history["trx_out"] + history["tok_out"]
    )  # TRC20 calls it made
    items = await grid_pages(http, path, limit=3)
    ids = [item["txID"] for item in items]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    stamps = [item["block_timestamp"] for item in items]
    assert stamps == sorted(stamps, reverse=True)
    ascending = await grid_pages(http, path, limit=4, order_by="block_timestamp,asc")
    assert [item["txID"] for item in ascending] == ids[::-1]
    item = items[-1]
    assert item["ret"][0]["contractRet"] == "SUCCESS" and item["raw_data"]["contract"][0]["type"]
    assert item["raw_data"]["contract"][0]["parameter"]["value"]["to_address"].startswith("41")


async def test_grid_filters(http: httpx.AsyncClient, history: dict[str, Any]) -> None:
    path = f"/v1/accounts/{history['address']}/transactions"
    confirmed = {i["txID"] for i in await grid_pages(http, path, only_confirmed="true")}
    everything = {i["txID"] for i in await grid_pages(http, path, limit=200)}
    assert confirmed == everything - history["unconfirmed"]
    unconfirmed = {i["txID"] for i in await grid_pages(http, path, only_unconfirmed="true")}
    assert unconfirmed == everything & history["unconfirmed"]
    incoming = {i["txID"] for i in await grid_pages(http, path, only_to="true", limit=2)}
    assert incoming == set(history["trx_in"])
    outgoing = {i["txID"] for i in await grid_pages(http, path, only_from="true")}
    assert outgoing == set(history["trx_out"] + history["tok_out"])
    cutoff = history["timestamps"][2]
    recent = await grid_pages(http, path, min_timestamp=cutoff, only_to="true", limit=2)
    assert {i["txID"] for i in recent} == set(history["trx_in"][2:])
    assert all(i["block_timestamp"] >= cutoff for i in recent)
    old = await grid_pages(http, path, max_timestamp=cutoff, only_to="true")
    assert {i["txID"] for i in old} == set(history["trx_in"][:3])


async def test_grid_trc20(
    devnet: TronDevnet, http: httpx.AsyncClient, history: dict[str, Any]
) -> None:
    path = f"/v1/accounts/{history['address']}/transactions/trc20"
    items = await grid_pages(http, path, limit=2)
    assert [i["transaction_id"] for i in items][::-1] == history["tok_in"][:5] + history[
        "tok_out"
    ] + [history["tok_in"][5]]
    newest = items[0]
    assert newest["token_info"] == {
        "symbol": "USDT",
        "address": devnet.info()["trc20_contract"],
        "decimals": 6,
        "name": "Tether USD",
    }
    assert newest["type"] == "Transfer" and newest["value"] == "999"
    assert newest["to"] == history["address"]
    confirmed = await grid_pages(http, path, only_confirmed="true")
    assert history["tok_in"][5] not in {i["transaction_id"] for i in confirmed}
    outgoing = await grid_pages(http, path, only_from="true")
    assert [i["transaction_id"] for i in outgoing] == history["tok_out"]
    assert outgoing[0]["value"] == "50" and outgoing[0]["from"] == history["address"]
    incoming = await grid_pages(
        http, path, only_to="true", contract_address=devnet.info()["trc20_contract"]
    )
    assert {i["transaction_id"] for i in incoming} == set(history["tok_in"])
    other_token = await grid_pages(http, path, contract_address=fresh_wallet("no-token").address)
    assert other_token == []


async def test_grid_rejects_bad_input(http: httpx.AsyncClient, history: dict[str, Any]) -> None:
    bad = await http.get("/v1/accounts/not-an-address/transactions")
    assert bad.status_code == 400 and bad.json()["success"] is False
    junk = base64.urlsafe_b64encode(b"junk").decode()
    bad = await http.get(
        f"/v1/accounts/{history['address']}/transactions", params={"fingerprint": junk}
    )
    assert bad.status_code == 400


# ---------------------------------------------------------------------------------- faults


@pytest_asyncio.fixture
async def faults(http: httpx.AsyncClient) -> AsyncIterator[Any]:
    async def set_faults(**knobs: Any) -> None:
        response = await http.post("/_devnet/faults", json=knobs)
        assert response.status_code == 200, response.text

    try:
        yield set_faults
    finally:
        await set_faults(
            error_rate=0, rate_429=0, latency_ms=0, lost_response_rate=0, refuse_rate=0,
            refuse_kinds=None,
        )  # fmt: skip


async def test_fault_error_rate(tron: AsyncTron, faults: Any) -> None:
    await faults(error_rate=1.0)
    with pytest.raises(httpx.HTTPStatusError) as error:
        await tron.get_latest_block_number()
    assert error.value.response.status_code == 503


async def test_fault_rate_limit(tron: AsyncTron, faults: Any) -> None:
    await faults(rate_429=1.0, retry_after=3)
    with pytest.raises(httpx.HTTPStatusError) as error:
        await tron.get_account_balance("TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "3"


async def test_fault_latency(tron: AsyncTron, faults: Any) -> None:
    started = time.perf_counter()
    await tron.get_latest_block_number()
    fast = time.perf_counter() - started
    await faults(latency_ms=150)
    started = time.perf_counter()
    await tron.get_latest_block_number()
    assert time.perf_counter() - started >= 0.15 > fast


async def test_fault_lost_response_still_commits(
    devnet: TronDevnet, tron: AsyncTron, http: httpx.AsyncClient, faults: Any
) -> None:
    sender, receiver = wallet(devnet, 9), fresh_wallet("lost-response")
    tx = await tron.trx.transfer(sender.address, receiver.address, 4 * TRX).build()
    tx.sign(sender.key)
    await faults(lost_response_rate=1.0)
    with pytest.raises(httpx.TransportError):
        await tx.broadcast()
    await faults(lost_response_rate=0)
    pending = await post(http, "/wallet/gettransactionfrompending", {"value": tx.txid})
    assert pending["txID"] == tx.txid
    # The naive retry: the node already has it.
    with pytest.raises(UnknownError) as dup:
        await tx.broadcast()
    assert dup.value.args[1] == "DUP_TRANSACTION_ERROR"
    devnet.advance(1)
    assert (await tron.get_transaction_info(tx.txid))["id"] == tx.txid
    assert await balance(tron, receiver.address) == 4 * TRX


async def test_fault_refusal_is_a_validation_error_cached_like_one(
    devnet: TronDevnet, tron: AsyncTron, http: httpx.AsyncClient, faults: Any
) -> None:
    """refuse_rate/refuse_kinds: a transaction of those kinds is refused as java-tron refuses
    an invalid one, nothing executes, and re-sending the same bytes is a duplicate (the id is
    cached before validation); other kinds go through."""
    sender, receiver = wallet(devnet, 9), fresh_wallet("refused")
    await faults(refuse_rate=1.0, refuse_kinds=["TransferContract"])
    tx = await tron.trx.transfer(sender.address, receiver.address, 2 * TRX).build()
    body = tx.sign(sender.key).to_json()
    refused = await post(http, "/wallet/broadcasttransaction", body)
    assert refused["code"] == "CONTRACT_VALIDATE_ERROR", refused
    assert "injected" in bytes.fromhex(refused["message"]).decode()
    again = await post(http, "/wallet/broadcasttransaction", body)
    assert again["code"] == "DUP_TRANSACTION_ERROR", again
    await faults(refuse_kinds=["DelegateResourceContract"])  # not this kind
    other = await tron.trx.transfer(sender.address, receiver.address, 3 * TRX).build()
    await included(devnet, await other.sign(sender.key).broadcast())
    assert await balance(tron, receiver.address) == 3 * TRX  # the refused one never ran


# --------------------------------------------------------------------- producer and persistence


async def test_block_producer_solidifies_on_its_own() -> None:
    net = TronDevnet(TronDevnetConfig(block_ms=40, solid_lag=2, accounts=2))
    await net.start()
    try:
        async with AsyncTron(AsyncHTTPProvider(endpoint_uri=net.url)) as tron:
            sender = wallet(net, 0)
            tx = await tron.trx.transfer(sender.address, wallet(net, 1).address, TRX).build()
            ret = await tx.sign(sender.key).broadcast()
            info = await ret.wait(timeout=5, interval=0.02, solid=True)
            assert info["blockNumber"] <= await tron.get_latest_solid_block_number()
    finally:
        await net.stop()
    assert net.chain.head.number >= 3


async def test_state_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "tron" / "state.json"
    config = TronDevnetConfig(
        auto_produce=False, solid_lag=2, accounts=3, state_path=state, save_interval_s=0.05
    )
    first = TronDevnet(config)
    await first.start()
    try:
        async with AsyncTron(AsyncHTTPProvider(endpoint_uri=first.url)) as tron:
            sender, receiver = wallet(first, 0), fresh_wallet("persist")
            trx_info = await send_trx(first, tron, sender, receiver.address, 7 * TRX)
            tx = await token_transfer(tron, first, sender, receiver.address, 77, 100 * TRX)
            tok_info = await included(first, await tx.broadcast())
            pending = await tron.trx.transfer(sender.address, receiver.address, TRX).build()
            pending.sign(sender.key)
            await pending.broadcast()  # still pending when the devnet stops
            await asyncio.sleep(0.2)
            assert state.exists()  # the periodic save, before any stop
            head = first.chain.head
    finally:
        await first.stop()
    assert not state.with_name("state.json.tmp").exists()

    second = TronDevnet(config)
    await second.start()
    try:
        async with AsyncTron(AsyncHTTPProvider(endpoint_uri=second.url)) as tron:
            assert (await tron.get_latest_block())["blockID"] == head.block_id.hex()
            assert await tron.get_transaction_info(trx_info["id"]) == trx_info
            assert await tron.get_transaction_info(tok_info["id"]) == tok_info
            assert await token_balance(tron, second, receiver.address) == 77
            next_block = second.advance(1)
            assert next_block.parent_id == head.block_id
            assert next_block.txids == [pending.txid]  # the pending one survived too
            assert await balance(tron, receiver.address) == 8 * TRX
            # The txID cache is memory only; the transaction store still catches the resend.
            with pytest.raises(UnknownError) as dup:
                await tron.broadcast(pending)  # `pending` belongs to the closed first client
            assert dup.value.args == ("Dup transaction.", "DUP_TRANSACTION_ERROR")
            second.advance(2)
            async with httpx.AsyncClient(base_url=second.url) as http:
                path = f"/v1/accounts/{receiver.address}/transactions/trc20"
                page = (await http.get(path, params={"only_confirmed": "true"})).json()
                assert [i["transaction_id"] for i in page["data"]] == [tok_info["id"]]
                solid = await post(
                    http,
                    "/walletsolidity/getaccount",
                    {"address": receiver.address, "visible": True},
                )
                assert solid["balance"] == 8 * TRX
    finally:
        await second.stop()
    saved = json.loads(state.read_text())
    assert saved["seed"] == "walletflow" and len(saved["blocks"]) == second.chain.head.number + 1
