"""Watched wallets, their subscriptions and trigger keys: a projection of the monitor
workflows' state, for listing and for the cheap per-chain trigger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from core.models import Subscription, WalletEvent, WalletRef


async def save_wallet(pool: asyncpg.Pool, ref: WalletRef) -> None:
    """Upsert the wallet and replace its subscriptions with `ref.subscribers`."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO wallets (chain, address) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            ref.chain,
            ref.address,
        )
        await conn.execute(
            "DELETE FROM subscriptions WHERE chain = $1 AND address = $2", ref.chain, ref.address
        )
        await conn.executemany(
            """INSERT INTO subscriptions
                   (chain, address, chat_id, label, min_amount, assets, direction, final_only,
                    min_usd)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            [
                (
                    ref.chain,
                    ref.address,
                    s.chat_id,
                    s.label,
                    s.min_amount,
                    s.assets,
                    s.direction,
                    s.final_only,
                    s.min_usd,
                )
                for s in ref.subscribers
            ],
        )


async def forget_wallet(pool: asyncpg.Pool, chain: str, address: str) -> None:
    await pool.execute("DELETE FROM wallets WHERE chain = $1 AND address = $2", chain, address)


async def add_watch_keys(
    pool: asyncpg.Pool, chain: str, wallet: str, keys: Mapping[str, str | None] | Sequence[str]
) -> None:
    """Register accounts for the trigger, with their fingerprint when it is known (a mapping);
    a key already known keeps its fingerprint."""
    fingerprints = keys if isinstance(keys, Mapping) else dict.fromkeys(keys)
    if fingerprints:
        await pool.executemany(
            """INSERT INTO watch_keys (chain, key, wallet, fingerprint) VALUES ($1, $2, $3, $4)
               ON CONFLICT (chain, key) DO NOTHING""",
            [(chain, key, wallet, fp) for key, fp in fingerprints.items()],
        )


async def watch_keys(pool: asyncpg.Pool, chain: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT key, wallet, fingerprint FROM watch_keys WHERE chain = $1 ORDER BY key", chain
    )


async def watch_keys_of(
    pool: asyncpg.Pool, chain: str, addresses: list[str]
) -> list[asyncpg.Record]:
    """The trigger's keys (with their last fingerprints) of these wallets."""
    return await pool.fetch(
        """SELECT key, wallet, fingerprint FROM watch_keys
           WHERE chain = $1 AND wallet = ANY($2::text[]) ORDER BY key""",
        chain,
        addresses,
    )


async def set_fingerprints(pool: asyncpg.Pool, chain: str, changed: dict[str, str]) -> None:
    if changed:
        await pool.executemany(
            """UPDATE watch_keys SET fingerprint = $3, updated_at = now()
               WHERE chain = $1 AND key = $2""",
            [(chain, key, fp) for key, fp in changed.items()],
        )


async def watched_among(pool: asyncpg.Pool, chain: str, addresses: list[str]) -> list[str]:
    rows = await pool.fetch(
        "SELECT address FROM wallets WHERE chain = $1 AND address = ANY($2::text[])",
        chain,
        addresses,
    )
    return [r["address"] for r in rows]


async def subscriptions_of_chat(pool: asyncpg.Pool, chat_id: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT chain, address, label FROM subscriptions WHERE chat_id = $1 ORDER BY created_at",
        chat_id,
    )


async def record_events(pool: asyncpg.Pool, events: list[WalletEvent]) -> list[str]:
    """Write events to the ledger; the unique key makes a repeat a no-op. Returns the symbols
    of the rows added (a repeat adds none), for the events-detected metric."""
    if not events:
        return []
    rows = await pool.fetch(
        """INSERT INTO wallet_events (chain, tx_id, idx, wallet, direction, asset, symbol, decimals,
                                      amount, counterparty, block, block_time)
           SELECT e.chain, e.tx_id, e.idx, e.wallet, e.direction, e.asset, e.symbol, e.decimals,
                  e.amount, e.counterparty, e.block, to_timestamp(e.block_time)
           FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::int[], $9::numeric[], $10::text[], $11::bigint[],
                       $12::bigint[])
                AS e(chain, tx_id, idx, wallet, direction, asset, symbol, decimals, amount,
                     counterparty, block, block_time)
           ON CONFLICT (chain, tx_id, idx, wallet) DO NOTHING
           RETURNING symbol""",
        [e.chain for e in events],
        [e.tx_id for e in events],
        [e.index for e in events],
        [e.wallet for e in events],
        [e.direction for e in events],
        [e.asset for e in events],
        [e.symbol for e in events],
        [e.decimals for e in events],
        [e.amount for e in events],
        [e.counterparty for e in events],
        [e.block for e in events],
        [e.block_time for e in events],
    )
    return [r["symbol"] for r in rows]


def subscription_from_row(row: asyncpg.Record) -> Subscription:
    return Subscription(
        chat_id=row["chat_id"],
        label=row["label"],
        min_amount=row["min_amount"],
        assets=row["assets"],
        direction=row["direction"],
        final_only=row["final_only"],
        min_usd=row["min_usd"],
    )


WALLETS_CHANNEL = "walletflow_wallets"  # pg_notify'd with the chain on every insert/delete


async def wallets_of(pool: asyncpg.Pool, chain: str) -> list[str]:
    """Every watched address of a chain."""
    rows = await pool.fetch("SELECT address FROM wallets WHERE chain = $1", chain)
    return [r["address"] for r in rows]
