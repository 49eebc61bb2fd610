"""TronSender.sign against the TRON devnet: it signs only the hash of the bytes it built."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tronpy.keys import PrivateKey

from activities.tron import adapters as tron_adapters
from chains import tron
from tests.activities.test_senders import broadcast_and_confirm, tron_sender  # noqa: F401


def _recipient() -> str:
    return str(PrivateKey.random().public_key.to_base58check_address())


async def test_tron_sign_returns_the_txid_of_the_bytes_it_signed(
    tron_sender: tron_adapters.TronSender,  # noqa: F811
) -> None:
    sender = tron_sender
    raw, tx_id, _ = signed = await sender.sign(sender.tokens.native, _recipient(), 1_000_000)
    tx = json.loads(raw)
    assert tx_id == tx["txID"] == tron.txid(tx["raw_data"])
    await broadcast_and_confirm(sender, [signed])


async def test_tron_sign_refuses_a_node_txid_for_other_bytes(
    tron_sender: tron_adapters.TronSender,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node answering getsignweight with the txID of another transaction (one paying it,
    say) gets no signature over that hash: sign fails before the key signs anything."""
    sender = tron_sender
    forged = tron.txid(
        {
            "contract": [],
            "ref_block_bytes": "0000",
            "ref_block_hash": "00" * 8,
            "expiration": 1,
            "timestamp": 1,
        }
    )
    for endpoint in sender.rpc.endpoints:
        honest = endpoint.client.get_sign_weight

        async def lying(txn: Any, honest: Any = honest) -> dict[str, Any]:
            answer: dict[str, Any] = await honest(txn)
            answer["transaction"]["transaction"]["txID"] = forged
            return answer

        monkeypatch.setattr(endpoint.client, "get_sign_weight", lying)
    hashes_signed: list[bytes] = []
    sign_msg_hash = PrivateKey.sign_msg_hash

    def spying(key: PrivateKey, digest: bytes) -> Any:
        hashes_signed.append(digest)
        return sign_msg_hash(key, digest)

    monkeypatch.setattr(PrivateKey, "sign_msg_hash", spying)

    with pytest.raises(ValueError, match=f"node returned txID {forged} .*: refusing to sign"):
        await sender.sign(sender.tokens.native, _recipient(), 1_000_000)
    assert hashes_signed == []
