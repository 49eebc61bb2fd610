"""Every withdrawal's full history, read back from Temporal, holds no key material.

Runs withdrawals of its own, then reads every withdrawal workflow the Temporal dev server has
seen this session, and searches the event payloads decoded, not just the history's JSON text.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from solders.keypair import Keypair
from temporalio.testing import WorkflowEnvironment
from tronpy.keys import PrivateKey

from tests.support.scan import key_forms, strings
from tests.support.stack import HOT_ACCOUNT, Stack
from tests.support.withdrawals import fresh_tron_address, withdraw


async def test_no_withdrawal_history_holds_a_key(
    stack: Stack, temporal_env: WorkflowEnvironment, solana_devnet: Any, tron_devnet: Any
) -> None:
    for chain, asset, to in (
        ("solana", "USDC", str(Keypair().pubkey())),
        ("tron", "USDT", fresh_tron_address()),
        ("tron", "TRX", fresh_tron_address()),
    ):
        _, result = await withdraw(stack, chain, asset, to, "1")
        assert result is not None and result.status == "confirmed", result
    secrets: set[str] = set()
    for index in (0, HOT_ACCOUNT):
        keypair = Keypair.from_base58_string(solana_devnet.info()["accounts"][index]["secret_key"])
        secrets |= key_forms(bytes(keypair)) | key_forms(keypair.secret())
        tron_key = PrivateKey(bytes.fromhex(tron_devnet.info()["accounts"][index]["private_key"]))
        secrets |= key_forms(tron_key.hex().encode()) | key_forms(bytes.fromhex(tron_key.hex()))
    # The detector finds a key hidden in an encoded payload (so a pass means something).
    planted = {
        "payloads": [
            {"data": base64.b64encode(json.dumps({"k": sorted(secrets)[0]}).encode()).decode()}
        ]
    }
    assert any(s in "\n".join(strings(planted)) for s in secrets)
    client = temporal_env.client
    checked = 0
    async for wf in client.list_workflows("WorkflowType = 'WithdrawalWorkflow'"):
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        text = "\n".join(strings(json.loads(history.to_json())))
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{wf.id} history holds key material"
        checked += 1
    assert checked >= 3
