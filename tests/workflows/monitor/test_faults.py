"""10% RPC errors (503) and 10% rate limits (429) from both chains' nodes while transfers
stream in: every transfer is ledgered once and reaches its chat once."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

from core.ids import monitor_id
from tests.support.ids import chat_id
from tests.support.monitor import (
    TRX,
    assert_exactly_once,
    delivery,
    sol_key,
    sol_send_many,
    sol_usdc,
    sol_wait_finalized,
    tron_address,
    tron_key,
    tron_send_many,
    tron_wait_solid,
    watch,
)
from tests.support.stack import Stack, eventually, settled_messages

pytestmark = pytest.mark.slow

FAULTS = {"error_rate": 0.1, "rate_429": 0.1, "retry_after": 1}


async def test_rpc_errors_and_rate_limits_miss_nothing_and_repeat_nothing(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    sol_wallets = {"sol": str(Keypair().pubkey()), "usdc": str(Keypair().pubkey())}
    tron_wallets = {"trx": tron_address(PrivateKey.random()), "usdt": ""}
    tron_wallets["usdt"] = tron_address(PrivateKey.random())
    chats = {name: chat_id() for name in [*sol_wallets, *tron_wallets]}
    for name, address in sol_wallets.items():
        await watch(stack.client, stack.settings, "solana", address, chats[name])
    for name, address in tron_wallets.items():
        await watch(stack.client, stack.settings, "tron", address, chats[name])
    usdt = stack.tron.info()["trc20_contract"]
    # The TRC20 receiver holds no TRX; that is fine for receiving.

    for devnet in (stack.solana, stack.tron):
        devnet.stats.reset()
        devnet.faults.update(FAULTS)
    rng = random.Random(4)
    sent: dict[str, list[str]] = {name: [] for name in chats}
    sol_funder, tron_funder = sol_key(stack.solana, 7), tron_key(stack.tron, 7)
    usdc = sol_usdc(stack.solana)
    for round_ in range(6):
        n = rng.randint(1, 5)
        amounts = [(round_ * 10 + i + 1) * 1_000_000 for i in range(n)]
        sent["sol"] += await sol_send_many(
            stack.solana.url, sol_funder, sol_wallets["sol"], [a * 10 for a in amounts]
        )
        sent["usdc"] += await sol_send_many(
            stack.solana.url, sol_funder, sol_wallets["usdc"], amounts, usdc
        )
        sent["trx"] += await tron_send_many(
            stack.tron.url, tron_funder, tron_wallets["trx"], [a // 10**6 * TRX for a in amounts]
        )
        sent["usdt"] += await tron_send_many(
            stack.tron.url, tron_funder, tron_wallets["usdt"], amounts, token=usdt
        )
        await asyncio.sleep(rng.uniform(0.2, 1.5))

    await sol_wait_finalized(stack.solana.url, sent["sol"] + sent["usdc"], timeout=90)
    await tron_wait_solid(stack.tron.url, sent["trx"] + sent["usdt"], timeout=90)
    wallets = {**{k: ("solana", v) for k, v in sol_wallets.items()}}
    wallets |= {k: ("tron", v) for k, v in tron_wallets.items()}

    async def all_ledgered() -> bool:
        for name, (chain, address) in wallets.items():
            count = await pool.fetchval(
                "SELECT count(*) FROM wallet_events WHERE chain = $1 AND wallet = $2",
                chain,
                address,
            )
            if count < len(sent[name]):
                return False
        return True

    try:
        await eventually(all_ledgered, timeout=90, interval=1)
    except AssertionError:
        report = []
        for name, (chain, address) in wallets.items():
            d = await delivery(pool, stack.telegram, chain, address, chats[name])
            status = await stack.client.get_workflow_handle(monitor_id(chain, address)).query(
                "status"
            )
            report.append(
                f"{name}: sent {len(sent[name])}, ledger {len(d.ledger)}, "
                f"notified {d.delivered_events}; monitor {status['counters']}"
            )
        raise AssertionError("\n".join(report)) from None
    for name, (chain, address) in wallets.items():
        d = await delivery(pool, stack.telegram, chain, address, chats[name])

        async def notified(name: str = name, chain: str = chain, address: str = address) -> bool:
            d = await delivery(pool, stack.telegram, chain, address, chats[name])
            return d.delivered_events >= len(sent[name])

        await eventually(notified, timeout=60, interval=0.5)
        await settled_messages(stack.telegram, chats[name], 1, quiet=1)
        d = await delivery(pool, stack.telegram, chain, address, chats[name])
        assert_exactly_once(d, sent[name])
        assert d.unknown_events == 0  # Telegram was healthy: nothing may be in doubt
    # The monitor's own calls (its reads and the triggers) really were refused, often.
    solana, tron = stack.solana.stats.refused, stack.tron.stats.refused
    reads = ("getSignaturesForAddress", "getTransaction", "getMultipleAccounts")
    assert sum(solana[m] for m in reads) >= 3, solana
    grid = ("v1/accounts/{address}/transactions", "v1/accounts/{address}/transactions/trc20")
    assert sum(tron[m] for m in (*grid, "walletsolidity/getblockbynum")) >= 3, tron
