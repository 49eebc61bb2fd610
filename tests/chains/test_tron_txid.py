"""TRON transaction ids computed locally: what TronSender.sign checks a node's txID against."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tronpy import AsyncTron
from tronpy.async_contract import AsyncContract
from tronpy.providers.async_http import AsyncHTTPProvider

from chains import tron
from devnet.tron.codec import raw_from_json

OWNER = "TSJAbe7YTH6xfFiZHkv5bzXTQ5uDqz9eW8"
TO = "TQGjrFjwuXuQu7ZhxcVeqpDVxFZt9RgzUs"
TOKEN = "TGaVEQQABuvKMbmThCsS9w27J4K5MuMJCF"
REF_BLOCK = "000000000354d55ee2d2fa09a1af9a14673b2160c7e75f7afcdca3f37a24b251"
TRANSFER_ABI = [
    {
        "type": "function",
        "name": "transfer",
        "inputs": [{"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
        "stateMutability": "nonpayable",
    }
]

# A mainnet node's own encoding of a TRX transfer (QuickNode's broadcasttransaction example):
# raw_data as the node printed it, and raw_data_hex, the bytes whose sha256 is the txID.
NODE_RAW_DATA = {
    "contract": [
        {
            "parameter": {
                "value": {
                    "amount": 1000,
                    "owner_address": "41608f8da72479edc7dd921e4c30bb7e7cddbe722e",
                    "to_address": "41e9d79cc47518930bc322d9bf7cddd260a0260a8d",
                },
                "type_url": "type.googleapis.com/protocol.TransferContract",
            },
            "type": "TransferContract",
        }
    ],
    "ref_block_bytes": "5e4b",
    "ref_block_hash": "47c9dc89341b300d",
    "expiration": 1591089627000,
    "timestamp": 1591089567635,
}
NODE_RAW_DATA_HEX = (
    "0a025e4b220847c9dc89341b300d40f8fed3a2a72e5a66080112620a2d747970652e676f6f676c65617069732e"
    "636f6d2f70726f746f636f6c2e5472616e73666572436f6e747261637412310a1541608f8da72479edc7dd921e"
    "4c30bb7e7cddbe722e121541e9d79cc47518930bc322d9bf7cddd260a0260a8d18e8077093afd0a2a72e"
)


def devnet_txid(raw_data: dict[str, Any]) -> str:
    """The id the devnet (like java-tron) gives the same JSON: every field of Transaction.raw."""
    return hashlib.sha256(raw_from_json(raw_data, visible=False)).hexdigest()


@pytest.fixture
async def offline_client() -> AsyncIterator[AsyncTron]:
    """A tronpy client that is never asked anything: builds here are offline."""
    client = AsyncTron(AsyncHTTPProvider("http://127.0.0.1:9"))
    yield client
    await client.close()


async def trx_transfer(client: AsyncTron) -> Any:
    builder = client.trx.transfer(OWNER, TO, 1_234_567).expiration(90_000)
    return await builder.build(offline=True, ref_block_id=REF_BLOCK)


async def trc20_transfer(client: AsyncTron) -> Any:
    contract = AsyncContract(addr=TOKEN, abi=TRANSFER_ABI, client=client)
    builder = (await contract.functions.transfer(TO, 10**18)).with_owner(OWNER)
    return (
        await builder.fee_limit(41_580_000)
        .expiration(90_000)
        .build(offline=True, ref_block_id=REF_BLOCK)
    )


def test_txid_is_the_hash_of_the_bytes_a_mainnet_node_hashed() -> None:
    assert tron.txid(NODE_RAW_DATA) == hashlib.sha256(bytes.fromhex(NODE_RAW_DATA_HEX)).hexdigest()


@pytest.mark.parametrize("build", [trx_transfer, trc20_transfer], ids=["TRX", "TRC20"])
async def test_txid_matches_tronpy_offline_and_the_protobuf_library(
    offline_client: AsyncTron, build: Any
) -> None:
    """What TronSender.sign builds: tronpy's own offline txID and the protobuf library's
    encoding (the devnet's, every field of Transaction.raw) agree with ours."""
    tx = await build(offline_client)
    raw_data = tx.to_json()["raw_data"]
    assert tron.txid(raw_data) == tx.txid == devnet_txid(raw_data)
    if raw_data["contract"][0]["type"] == "TriggerSmartContract":
        assert raw_data["fee_limit"] == 41_580_000  # fee_limit is part of what is hashed


async def test_every_hashed_field_changes_the_txid(offline_client: AsyncTron) -> None:
    raw_data = (await trc20_transfer(offline_client)).to_json()["raw_data"]
    value = raw_data["contract"][0]["parameter"]["value"]
    changes = [
        (raw_data, "fee_limit", 41_580_001),
        (raw_data, "expiration", raw_data["expiration"] + 1),
        (raw_data, "timestamp", raw_data["timestamp"] + 1),
        (raw_data, "ref_block_hash", "00" * 8),
        (value, "data", value["data"][:-1] + "1"),
        (value, "call_value", 1),
        (value, "contract_address", tron.base58_to_hex(TO)),
    ]
    original = tron.txid(raw_data)
    for obj, key, new in changes:
        old = obj.get(key)
        obj[key] = new
        assert tron.txid(raw_data) != original, key
        assert tron.txid(raw_data) == devnet_txid(raw_data), key
        obj[key] = old
        if old is None:
            del obj[key]
    assert tron.txid(raw_data) == original


async def test_a_contract_type_it_cannot_hash_is_refused(offline_client: AsyncTron) -> None:
    raw_data = (await trx_transfer(offline_client)).to_json()["raw_data"]
    raw_data["contract"][0]["type"] = "TransferAssetContract"
    with pytest.raises(ValueError, match="TransferAssetContract"):
        tron.txid(raw_data)


async def test_a_node_txid_for_other_bytes_is_refused(offline_client: AsyncTron) -> None:
    raw_data = (await trc20_transfer(offline_client)).to_json()["raw_data"]
    own = tron.txid(raw_data)
    assert tron.verified_txid(raw_data, own) == own

    other = copy.deepcopy(raw_data)
    other["contract"][0]["parameter"]["value"]["contract_address"] = tron.base58_to_hex(TO)
    forged = tron.txid(other)  # the hash of a transaction we never built
    with pytest.raises(ValueError) as refused:
        tron.verified_txid(raw_data, forged)
    assert str(refused.value) == (
        f"node returned txID {forged} for a transaction whose raw_data hashes to {own}: "
        "refusing to sign"
    )


async def test_check_transfer_accepts_exactly_the_transfer_asked_for(
    offline_client: AsyncTron,
) -> None:
    trx = (await trx_transfer(offline_client)).to_json()["raw_data"]
    tron.check_transfer(trx, owner=OWNER, to=TO, amount=1_234_567, token=None)
    trc20 = (await trc20_transfer(offline_client)).to_json()["raw_data"]
    tron.check_transfer(trc20, owner=OWNER, to=TO, amount=10**18, token=TOKEN)


async def test_check_transfer_refuses_any_other_transaction(offline_client: AsyncTron) -> None:
    trx = (await trx_transfer(offline_client)).to_json()["raw_data"]
    trc20 = (await trc20_transfer(offline_client)).to_json()["raw_data"]
    other = "TSSMHYeV2uE9qYH95DqyoCuNCzEL1NvU3S"
    asked = {"owner": OWNER, "to": TO, "amount": 1_234_567, "token": None}
    for changed in ({"to": other}, {"amount": 1_234_568}, {"owner": other}, {"token": TOKEN}):
        with pytest.raises(ValueError, match="not the transfer asked for"):
            tron.check_transfer(trx, **(asked | changed))  # type: ignore[arg-type]
    value = trc20["contract"][0]["parameter"]["value"]
    tampered = [
        {"data": "095ea7b3" + value["data"][8:]},  # approve(to, amount) instead of transfer
        {"contract_address": tron.base58_to_hex(other)},
        {"call_value": 1},
    ]
    for change in tampered:
        raw = copy.deepcopy(trc20)
        raw["contract"][0]["parameter"]["value"].update(change)
        with pytest.raises(ValueError, match="not the transfer asked for"):
            tron.check_transfer(raw, owner=OWNER, to=TO, amount=10**18, token=TOKEN)
    for extra in ({"data": "6d656d6f"}, {"contract": trc20["contract"] * 2}):
        raw = copy.deepcopy(trc20) | extra
        with pytest.raises(ValueError, match="not the transfer asked for"):
            tron.check_transfer(raw, owner=OWNER, to=TO, amount=10**18, token=TOKEN)
