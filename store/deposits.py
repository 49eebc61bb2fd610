"""Customers, their deposit addresses, credited deposits and what sweeps cover (migration 012).

A credit is written once per (chain, tx, index, address); a sweep covers an address's
uncovered credits of one asset up to a sequence number, and gives them back if it ends
without moving anything (a trigger on `withdrawals`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.models import WalletEvent


@dataclass(frozen=True)
class Uncovered:
    """An address's credits of one asset that no sweep covers yet."""

    chain: str
    address: str
    customer: str
    asset: str
    symbol: str
    decimals: int
    total: int  # base units
    newest: int  # the newest credit's sequence number: the sweep's `n`
    count: int


async def assign(
    pool: asyncpg.Pool, chain: str, customer: str, derive: Callable[[int], str]
) -> tuple[str, int]:
    """The customer's deposit address on `chain`: (address, index), derived from the
    customer's index the first time and read back every time after."""
    async with pool.acquire() as conn, conn.transaction():
        index = await conn.fetchval(
            """WITH added AS (INSERT INTO customers (customer) VALUES ($1)
                              ON CONFLICT (customer) DO NOTHING RETURNING idx)
               SELECT idx FROM added UNION ALL SELECT idx FROM customers WHERE customer = $1""",
            customer,
        )
        row = await conn.fetchrow(
            "SELECT address, idx FROM deposit_addresses WHERE chain = $1 AND customer = $2",
            chain,
            customer,
        )
        if row is not None:
            return row["address"], row["idx"]
        address = derive(index)
        await conn.execute(
            """INSERT INTO deposit_addresses (chain, address, customer, idx)
               VALUES ($1, $2, $3, $4)""",
            chain,
            address,
            customer,
            index,
        )
        return address, index


async def owner(pool: asyncpg.Pool, chain: str, address: str) -> asyncpg.Record | None:
    """The deposit address's row (customer, idx), or None if it is not one."""
    return await pool.fetchrow(
        "SELECT customer, idx FROM deposit_addresses WHERE chain = $1 AND address = $2",
        chain,
        address,
    )


async def credit(
    pool: asyncpg.Pool, events: list[WalletEvent], minimums: dict[str, int]
) -> list[Uncovered]:
    """Credit the final incoming transfers to deposit addresses (a repeat credits nothing);
    one below its asset's minimum (`minimums` by asset id, base units) is dust and is not
    credited. Returns what is uncovered at the addresses and assets of these events."""
    incoming = [e for e in events if e.direction == "in" and e.amount >= minimums.get(e.asset, 1)]
    if not incoming:
        return []
    await pool.execute(
        """INSERT INTO deposits (chain, address, customer, tx_id, idx, asset, symbol, decimals,
                                 amount, block, confirmed_at)
           SELECT e.chain, e.wallet, d.customer, e.tx_id, e.idx, e.asset, e.symbol, e.decimals,
                  e.amount, e.block, to_timestamp(e.block_time)
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                       $7::int[], $8::numeric[], $9::bigint[], $10::bigint[])
                AS e(chain, wallet, tx_id, idx, asset, symbol, decimals, amount, block,
                     block_time)
           JOIN deposit_addresses d ON d.chain = e.chain AND d.address = e.wallet
           -- A sweep's own step (an activation, a top-up) is the service's money, never a
           -- customer's deposit; a withdrawal paid to a deposit address is one.
           WHERE NOT EXISTS (SELECT 1 FROM withdrawal_versions v
                             WHERE v.tx_id = e.tx_id AND v.request_id LIKE 'sweep-%')
           ON CONFLICT (chain, tx_id, idx, address) DO NOTHING""",
        [e.chain for e in incoming],
        [e.wallet for e in incoming],
        [e.tx_id for e in incoming],
        [e.index for e in incoming],
        [e.asset for e in incoming],
        [e.symbol for e in incoming],
        [e.decimals for e in incoming],
        [e.amount for e in incoming],
        [e.block for e in incoming],
        [e.block_time for e in incoming],
    )
    # Every deposit seen, not only the rows just added: a retried call (whose first attempt
    # credited them and then failed to start their sweep) decides again.
    found: list[Uncovered] = []
    for chain, address, asset in sorted({(e.chain, e.wallet, e.asset) for e in incoming}):
        found += await uncovered(pool, chain, address, asset)
    return found


async def uncovered(
    pool: asyncpg.Pool | asyncpg.Connection,
    chain: str,
    address: str | None = None,
    asset: str | None = None,
) -> list[Uncovered]:
    """Uncovered credits per (address, asset) on `chain`, optionally of one address/asset."""
    rows = await pool.fetch(
        """SELECT chain, address, min(customer) AS customer, asset, min(symbol) AS symbol,
                  min(decimals) AS decimals, sum(amount) AS total, max(seq) AS newest,
                  count(*) AS count
           FROM deposits
           WHERE chain = $1 AND sweep_id IS NULL
             AND ($2::text IS NULL OR address = $2) AND ($3::text IS NULL OR asset = $3)
           GROUP BY chain, address, asset
           ORDER BY address, asset""",
        chain,
        address,
        asset,
    )
    return [
        Uncovered(
            chain=r["chain"],
            address=r["address"],
            customer=r["customer"],
            asset=r["asset"],
            symbol=r["symbol"],
            decimals=r["decimals"],
            total=int(r["total"]),
            newest=r["newest"],
            count=r["count"],
        )
        for r in rows
    ]


async def cover(
    pool: asyncpg.Pool, sweep_id: str, chain: str, address: str, asset: str, newest: int
) -> int:
    """Claim the address's uncovered credits of `asset` up to `newest` for the sweep (again,
    on a retry) and return what the sweep moves: the sum of every credit it covers."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE deposits SET sweep_id = $1
               WHERE chain = $2 AND address = $3 AND asset = $4 AND seq <= $5
                 AND sweep_id IS NULL""",
            sweep_id,
            chain,
            address,
            asset,
            newest,
        )
        total = await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM deposits WHERE sweep_id = $1", sweep_id
        )
    return int(total)


async def uncover(pool: asyncpg.Pool, sweep_id: str) -> None:
    """Give a sweep's credits back (it will not move them)."""
    await pool.execute("UPDATE deposits SET sweep_id = NULL WHERE sweep_id = $1", sweep_id)


async def credit_of(pool: asyncpg.Pool, seq: int) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT address, asset FROM deposits WHERE seq = $1", seq)


FINAL = "('confirmed', 'failed', 'rejected', 'cancelled', 'expired')"


async def sweeps_in_flight(pool: asyncpg.Pool, chain: str) -> dict[str, str]:
    """Deposit address -> the sweep of it that is not decided yet (steps are not sweeps of
    an address: they leave from the hot wallet)."""
    rows = await pool.fetch(
        f"""SELECT from_address, request_id FROM withdrawals
            WHERE kind = 'sweep' AND chain = $1 AND status NOT IN {FINAL}
              AND from_address IN (SELECT address FROM deposit_addresses WHERE chain = $1)""",
        chain,
    )
    return {r["from_address"]: r["request_id"] for r in rows}


async def loans_in_flight(pool: asyncpg.Pool, chain: str) -> int:
    """Sun of stake that sweeps' loans (`-delegate` steps) not decided yet are about to lend:
    it is not lendable again. Until a loan registers, two sweeps may still both count it."""
    total = await pool.fetchval(
        f"""SELECT coalesce(sum(amount), 0) FROM withdrawals
            WHERE kind = 'sweep' AND chain = $1 AND request_id LIKE 'sweep-%-delegate'
              AND status NOT IN {FINAL}""",
        chain,
    )
    return int(total)


async def sweep_attempt(pool: asyncpg.Pool, sweep_id: str) -> int:
    """Which attempt of the sweep `sweep_id` to start: the newest one still in flight (a
    start finds it running), else the one after the newest that ended (it gave its credits
    back, or they would not be uncovered), else the first."""
    rows = await pool.fetch(
        f"""SELECT request_id, status NOT IN {FINAL} AS open FROM withdrawals
            WHERE kind = 'sweep'
              AND (request_id = $1 OR request_id ~ ('^' || $2 || '-try[0-9]+$'))""",
        sweep_id,
        re.escape(sweep_id),
    )
    if not rows:
        return 1
    newest = max(rows, key=lambda r: _attempt_of(r["request_id"]))
    attempt = _attempt_of(newest["request_id"])
    return attempt if newest["open"] else attempt + 1


def _attempt_of(request_id: str) -> int:
    head, _, tail = request_id.rpartition("-try")
    return int(tail) if head and tail.isdigit() else 1


async def owed(pool: asyncpg.Pool, chain: str, address: str, asset: str) -> int:
    """What `address` holds of `asset` for its customer by the ledger: the credits no
    confirmed sweep moved (uncovered, or covered by a sweep still deciding)."""
    total = await pool.fetchval(
        """SELECT coalesce(sum(d.amount), 0)
           FROM deposits d LEFT JOIN withdrawals w ON w.request_id = d.sweep_id
           WHERE d.chain = $1 AND d.address = $2 AND d.asset = $3
             AND w.status IS DISTINCT FROM 'confirmed'""",
        chain,
        address,
        asset,
    )
    return int(total)


async def unspent_fuel(pool: asyncpg.Pool, chain: str, address: str, coin: str) -> int:
    """The coin the hot wallet sent to `address` as fuel (top-ups, buys) for its token sweeps
    that ended unconfirmed since its newest confirmed token sweep: what a later attempt may
    burn there. Never a customer's coin, whatever arrived at the address meanwhile."""
    total = await pool.fetchval(
        f"""SELECT coalesce(sum(s.amount), 0)
            FROM withdrawals s
            JOIN withdrawals m ON m.request_id = regexp_replace(s.request_id, '-(topup|buy)$', '')
            WHERE s.kind = 'sweep' AND s.chain = $1 AND s.status = 'confirmed'
              AND s.request_id ~ '-(topup|buy)$'
              AND m.from_address = $2 AND m.status IN {FINAL} AND m.status <> 'confirmed'
              AND m.created_at > coalesce(
                  (SELECT max(c.created_at) FROM withdrawals c
                   WHERE c.kind = 'sweep' AND c.chain = $1 AND c.from_address = $2
                     AND c.asset <> $3 AND c.status = 'confirmed'),
                  '-infinity')""",
        chain,
        address,
        coin,
    )
    return int(total)


async def sweep_status(pool: asyncpg.Pool, sweep_id: str) -> str | None:
    return await pool.fetchval(
        "SELECT status FROM withdrawals WHERE request_id = $1 AND kind = 'sweep'", sweep_id
    )


async def deposits_of(
    pool: asyncpg.Pool, customer: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """SELECT d.seq, d.chain, d.address, d.customer, d.tx_id, d.symbol, d.decimals,
                  d.amount::text AS amount, d.confirmed_at, d.credited_at, d.sweep_id,
                  w.status AS sweep_status
           FROM deposits d LEFT JOIN withdrawals w ON w.request_id = d.sweep_id
           WHERE $1::text IS NULL OR d.customer = $1
           ORDER BY d.seq DESC LIMIT $2""",
        customer,
        limit,
    )
    return [dict(r) for r in rows]


async def sweeps(pool: asyncpg.Pool, limit: int = 200) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """SELECT request_id AS sweep_id, chain, from_address AS address, asset,
                  amount::text AS amount, decimals, status, status_reason AS reason, tx_id,
                  created_at, updated_at
           FROM withdrawals WHERE kind = 'sweep' ORDER BY created_at DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]


async def save_authority(
    pool: asyncpg.Pool, chain: str, intent: dict[str, Any], expires_at: datetime
) -> None:
    await pool.execute(
        """INSERT INTO sweep_authority (chain, intent, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (chain) DO UPDATE SET intent = EXCLUDED.intent,
               expires_at = EXCLUDED.expires_at, updated_at = now()""",
        chain,
        json.dumps(intent),
        expires_at,
    )


async def authority(pool: asyncpg.Pool, chain: str) -> dict[str, Any] | None:
    """The chain's standing `sweep` statement, unless it has expired."""
    text = await pool.fetchval(
        "SELECT intent FROM sweep_authority WHERE chain = $1 AND expires_at > now()", chain
    )
    return None if text is None else dict(json.loads(text))


@dataclass(frozen=True)
class Holding:
    """What the ledger says a deposit address holds of an asset: its credits that no
    confirmed sweep moved (`in_flight`: a sweep of them is not decided yet)."""

    address: str
    customer: str
    asset: str
    symbol: str
    decimals: int
    expected: int
    in_flight: bool


async def holdings(pool: asyncpg.Pool, chain: str) -> list[Holding]:
    rows = await pool.fetch(
        """SELECT d.address, min(d.customer) AS customer, d.asset, min(d.symbol) AS symbol,
                  min(d.decimals) AS decimals,
                  coalesce(sum(d.amount) FILTER (WHERE w.status IS DISTINCT FROM 'confirmed'), 0)
                      AS expected,
                  bool_or(d.sweep_id IS NOT NULL AND (w.status IS NULL OR w.status NOT IN
                          ('confirmed', 'failed', 'rejected', 'cancelled', 'expired')))
                      AS in_flight
           FROM deposits d LEFT JOIN withdrawals w ON w.request_id = d.sweep_id
           WHERE d.chain = $1
           GROUP BY d.address, d.asset ORDER BY d.address, d.asset""",
        chain,
    )
    return [
        Holding(
            address=r["address"],
            customer=r["customer"],
            asset=r["asset"],
            symbol=r["symbol"],
            decimals=r["decimals"],
            expected=int(r["expected"]),
            in_flight=r["in_flight"],
        )
        for r in rows
    ]


async def save_reconciliation(
    pool: asyncpg.Pool,
    run_id: str,
    chain: str,
    checked: int,
    in_flight: int,
    differences: list[tuple[Holding, int]],
) -> None:
    """The run and its differences, once (a retried activity writes nothing twice)."""
    async with pool.acquire() as conn, conn.transaction():
        added = await conn.fetchval(
            """INSERT INTO reconcile_runs (run_id, chain, checked, in_flight, differences)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO NOTHING RETURNING run_id""",
            run_id,
            chain,
            checked,
            in_flight,
            len(differences),
        )
        if added is None:
            return
        await conn.executemany(
            """INSERT INTO reconcile_differences (run_id, chain, address, customer, asset, symbol,
                                                  decimals, expected, actual)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            [
                (run_id, chain, h.address, h.customer, h.asset, h.symbol, h.decimals, h.expected, a)
                for h, a in differences
            ],
        )
