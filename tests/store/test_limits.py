"""Rolling withdrawal limits and the chain freeze in store/withdrawals.py, on a real PostgreSQL.

The property test runs random batches of concurrent reservations, releases, debits and
re-reservations, with the limits changing between batches and reservations ageing out of a
short real window, then proves from the ledger that:
  - no reservation that stayed (debited or still reserved) ever had more than the limit of its
    own reserve call reserved, and not released, within the window up to it, per hot wallet
    and asset and per requester and asset (the advisory locks and the window work together);
  - every LimitExceeded was deserved: the window then held enough to pass a limit;
  - a reservation is closed at most once (one debit or one release, never both), and a closed
    request is never reserved again (ReservationClosed).
The deterministic tests pin the window's edges, the race of two reservations, what each limit
is shared by, and that a frozen chain reserves, saves and broadcasts nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.models import (
    AuditEntry,
    LedgerChange,
    PreparedWithdrawal,
    SignedVersion,
    WithdrawalRequest,
)
from store import policy
from store import withdrawals as repo
from store.withdrawals import Frozen, LimitExceeded, Limits, ReservationClosed
from tests.store.test_withdrawals import sample


async def new_request(
    pool: asyncpg.Pool,
    request_id: str,
    *,
    requested_by: str,
    hot_wallet: str,
    amount: int,
    asset: str = "SOL",
    chain: str = "solana",
) -> tuple[WithdrawalRequest, PreparedWithdrawal]:
    """A registered withdrawal of `amount` base units. The row is registered on solana (the
    withdrawals table allows only real chains); the returned request names `chain`, which is
    what the ledger, the limits and the freeze flag go by."""
    req, prepared = sample(request_id, requested_by)
    prepared = prepared.model_copy(
        update={"hot_wallet": hot_wallet, "amount": amount, "asset_id": asset, "symbol": asset}
    )
    await repo.register(pool, req, prepared)
    return req.model_copy(update={"chain": chain}), prepared


async def outcome(
    pool: asyncpg.Pool, req: WithdrawalRequest, prepared: PreparedWithdrawal, limits: Limits
) -> str:
    try:
        await repo.reserve(pool, req, prepared, limits)
    except LimitExceeded:
        return "limit"
    except ReservationClosed:
        return "closed"
    return "ok"


async def close(pool: asyncpg.Pool, request_id: str, kind: Literal["release", "debit"]) -> None:
    status: Literal["failed", "confirmed"] = "failed" if kind == "release" else "confirmed"
    change = LedgerChange(request_id=request_id, chain="solana", status=status, kind=kind)
    await repo.record(pool, change)


async def ledger(pool: asyncpg.Pool, request_ids: list[str]) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT request_id, kind, amount, created_at, chain, hot_wallet, asset, requested_by
           FROM ledger_entries WHERE request_id = ANY($1::text[]) ORDER BY id""",
        request_ids,
    )


async def db_now(pool: asyncpg.Pool) -> datetime:
    return await pool.fetchval("SELECT clock_timestamp()")


# ---- the property ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One operation of a batch: a new reservation, or one on a request of an earlier batch
    (`pick` chooses which): release it, debit it, or reserve it again."""

    kind: Literal["reserve", "release", "debit", "again"]
    requester: int = 0
    hot: int = 0
    asset: str = "SOL"
    amount: int = 1
    pick: int = 0


@dataclass
class Call:
    """A reserve call and what came of it."""

    request_id: str
    amount: int
    hot_key: tuple[str, str, str]
    requester_key: tuple[str, str]
    closed_before: bool  # the request was released or debited before the batch began
    result: str = ""


@dataclass
class Batch:
    limits: Limits
    start: datetime  # the database's clock before the first call of the batch ...
    end: datetime  # ... and after the last one
    released_before: set[str]
    calls: list[Call]


# Few keys and tight limits, so that reservations meet in a window and limits bite; a second
# asset, whose reservations must not count against the first's.
OPS = st.one_of(
    st.builds(
        Op,
        kind=st.just("reserve"),
        requester=st.integers(0, 1),
        hot=st.integers(0, 1),
        asset=st.sampled_from(["SOL", "SOL", "SOL", "USDC"]),
        amount=st.integers(1, 10),
    ),
    st.builds(Op, kind=st.sampled_from(["release", "debit", "again"]), pick=st.integers(0, 999)),
)
LIMIT = st.sampled_from([5, 8, 12, 20, None])
# (hot wallet limit, requester limit, operations run concurrently, pause after, in windows)
BATCHES = st.lists(
    st.tuples(LIMIT, LIMIT, st.lists(OPS, min_size=1, max_size=10), st.sampled_from([0, 0.5, 1.1])),
    min_size=2,
    max_size=4,
)


def hot_key_of(r: asyncpg.Record) -> tuple[str, str, str]:
    return (r["chain"], r["hot_wallet"], r["asset"])


def requester_key_of(r: asyncpg.Record) -> tuple[str, str]:
    return (r["requested_by"], r["asset"])


async def run_batch(
    pool: asyncpg.Pool,
    run: str,
    requests: dict[str, tuple[WithdrawalRequest, PreparedWithdrawal]],
    limits: Limits,
    ops: list[Op],
) -> Batch:
    """Register the batch's new requests, then run all its operations at once."""
    earlier = list(requests)
    entries = await ledger(pool, earlier)
    closed = {r["request_id"]: r["kind"] for r in entries if r["kind"] != "reserve"}
    work: list[tuple[str, str]] = []  # (op kind, request id)
    for op in ops:
        if op.kind == "reserve":
            rid = f"lim-{run}-{len(requests)}"
            requests[rid] = await new_request(
                pool,
                rid,
                requested_by=f"req-{run}-{op.requester}",
                hot_wallet=f"hw-{run}-{op.hot}",
                amount=op.amount,
                asset=op.asset,
            )
            work.append(("reserve", rid))
        elif earlier:
            work.append((op.kind, earlier[op.pick % len(earlier)]))

    calls: list[Call] = []
    tasks: list[Coroutine[Any, Any, str | None]] = []  # reserve calls give their result
    for kind, rid in work:
        req, prepared = requests[rid]
        if kind in ("reserve", "again"):
            hot_key = (req.chain, prepared.hot_wallet, prepared.asset_id)
            requester_key = (req.requested_by, prepared.asset_id)
            calls.append(Call(rid, prepared.amount, hot_key, requester_key, rid in closed))
            tasks.append(outcome(pool, req, prepared, limits))
        else:
            tasks.append(close(pool, rid, "release" if kind == "release" else "debit"))
    start = await db_now(pool)
    results = await asyncio.gather(*tasks)
    end = await db_now(pool)
    for call, result in zip(calls, [r for r in results if r is not None], strict=True):
        call.result = result
    released_before = {rid for rid, kind in closed.items() if kind == "release"}
    return Batch(limits, start, end, released_before, calls)


def check(rows: list[asyncpg.Record], batches: list[Batch], window: timedelta) -> None:
    reserves = {r["request_id"]: r for r in rows if r["kind"] == "reserve"}
    closes: dict[str, list[str]] = {}
    for r in rows:
        if r["kind"] != "reserve":
            closes.setdefault(r["request_id"], []).append(r["kind"])

    # Closed at most once (one debit or one release), and only what was reserved.
    for rid, kinds in closes.items():
        assert len(kinds) == 1, f"{rid} closed as {kinds}"
        assert rid in reserves, f"{rid} closed without a reservation"
    released = {rid for rid, kinds in closes.items() if kinds == ["release"]}

    calls = [(b, c) for b in batches for c in b.calls]
    for result in sorted({c.result for _, c in calls}):
        event(f"a reserve call: {result}")
    for _, call in calls:
        # A request closed before the batch is refused; only a closed request is refused so
        # (one closed during the batch may go either way).
        if call.closed_before:
            assert call.result == "closed", f"{call.request_id} reserved again after closing"
        if call.result == "closed":
            assert call.request_id in closes
    # A reservation exists exactly when a reserve call of its request got through.
    assert set(reserves) == {c.request_id for _, c in calls if c.result == "ok"}

    # Safety: what stayed reserved in any window ending at a reservation fits the limit its
    # reserve call ran under. (Releases only ever lower the sum, so it held at the check too.)
    staying = [r for rid, r in reserves.items() if rid not in released]
    for r in staying:
        batch = next((b for b in batches if b.start <= r["created_at"] <= b.end), None)
        assert batch is not None, f"{r['request_id']} stamped outside of every batch"
        since = r["created_at"] - window
        keyed = (
            (batch.limits.hot_wallet, hot_key_of),
            (batch.limits.requester, requester_key_of),
        )
        for limit, key_of in keyed:
            if limit is None:
                continue
            key = key_of(r)
            total = sum(
                int(s["amount"])
                for s in staying
                if key_of(s) == key and since < s["created_at"] <= r["created_at"]
            )
            assert total <= limit, (
                f"{key}: {total} reserved in the window up to {r['request_id']}, "
                f"over the limit {limit} it was reserved under"
            )
            ever = sum(
                int(s["amount"])
                for s in staying
                if key_of(s) == key and s["created_at"] <= r["created_at"]
            )
            if ever > limit:
                event("reserved only because older reservations had left the window")

    # A refusal is deserved. The call checked at some instant of its batch, so at most the
    # reservations stamped from a window before the batch to its end counted, less those
    # released before the batch.
    for batch, call in calls:
        if call.result != "limit":
            continue
        counted = [
            s
            for s in reserves.values()
            if batch.start - window < s["created_at"] <= batch.end
            and s["request_id"] not in batch.released_before
        ]
        hot = sum(int(s["amount"]) for s in counted if hot_key_of(s) == call.hot_key)
        mine = sum(int(s["amount"]) for s in counted if requester_key_of(s) == call.requester_key)
        limits = batch.limits
        assert (limits.hot_wallet is not None and hot + call.amount > limits.hot_wallet) or (
            limits.requester is not None and mine + call.amount > limits.requester
        ), f"{call.request_id} refused: {call.amount} on top of at most {hot} / {mine}, {limits}"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window_ms=st.sampled_from([300, 400]), batches=BATCHES)
async def test_limits_hold_under_concurrent_reservations(
    pool: asyncpg.Pool,
    window_ms: int,
    batches: list[tuple[int | None, int | None, list[Op], float]],
) -> None:
    run = uuid.uuid4().hex[:10]  # every example shares the database: its names are its own
    window = timedelta(milliseconds=window_ms)
    requests: dict[str, tuple[WithdrawalRequest, PreparedWithdrawal]] = {}
    done: list[Batch] = []
    for n, (hot_limit, requester_limit, ops, pause) in enumerate(batches):
        limits = Limits(hot_wallet=hot_limit, requester=requester_limit, window=window)
        done.append(await run_batch(pool, run, requests, limits, ops))
        if n < len(batches) - 1:
            await asyncio.sleep(pause * window.total_seconds())  # let reservations age out
    check(await ledger(pool, list(requests)), done, window)


# ---- the window's edges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "limits", [Limits(hot_wallet=1000), Limits(requester=1000)], ids=["hot_wallet", "requester"]
)
async def test_old_and_released_reservations_do_not_count(
    pool: asyncpg.Pool, uid: str, limits: Limits
) -> None:
    who = {"requested_by": f"r-{uid}", "hot_wallet": f"h-{uid}"}
    a = await new_request(pool, f"old-{uid}-a", amount=800, **who)
    b = await new_request(pool, f"old-{uid}-b", amount=300, **who)
    await repo.reserve(pool, *a, limits)
    with pytest.raises(LimitExceeded):
        await repo.reserve(pool, *b, limits)

    # A day and an hour old: out of a 24h window.
    await pool.execute(
        """UPDATE ledger_entries SET created_at = now() - interval '25 hours'
           WHERE request_id = $1 AND kind = 'reserve'""",
        a[0].request_id,
    )
    await repo.reserve(pool, *b, limits)
    assert await repo.used(pool, *b, limits.window) == (300, 300)

    c = await new_request(pool, f"old-{uid}-c", amount=700, **who)
    d = await new_request(pool, f"old-{uid}-d", amount=500, **who)
    await repo.reserve(pool, *c, limits)  # 1000 of 1000
    with pytest.raises(LimitExceeded):
        await repo.reserve(pool, *d, limits)
    await close(pool, c[0].request_id, "release")  # given back: as if never reserved
    await repo.reserve(pool, *d, limits)
    assert await repo.used(pool, *d, limits.window) == (800, 800)


# ---- the race ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", ["hot_wallet", "requester"])
async def test_of_two_racing_reservations_that_fit_alone_one_passes(
    pool: asyncpg.Pool, uid: str, shared: str
) -> None:
    """600 and 600 under a limit of 1000, at the same time: the lock lets only one through.
    The pair shares only the limited key (the other one differs), 20 times over."""
    limits = Limits(hot_wallet=1000) if shared == "hot_wallet" else Limits(requester=1000)
    for n in range(20):
        pair = []
        for side in ("a", "b"):
            hot_wallet = f"h-{uid}-{n}" if shared == "hot_wallet" else f"h-{uid}-{n}{side}"
            requested_by = f"r-{uid}-{n}" if shared == "requester" else f"r-{uid}-{n}{side}"
            pair.append(
                await new_request(
                    pool,
                    f"race-{uid}-{n}{side}",
                    requested_by=requested_by,
                    hot_wallet=hot_wallet,
                    amount=600,
                )
            )
        results = await asyncio.gather(*(outcome(pool, *p, limits) for p in pair))
        assert sorted(results) == ["limit", "ok"], f"pair {n}: {results}"
        rows = await ledger(pool, [p[0].request_id for p in pair])
        assert [r["kind"] for r in rows] == ["reserve"]


# ---- what each limit is shared by --------------------------------------------------------------


async def test_hot_wallet_limit_is_shared_by_requesters(pool: asyncpg.Pool, uid: str) -> None:
    limits = Limits(hot_wallet=1000)
    alice = await new_request(
        pool, f"hw-{uid}-1", requested_by=f"alice-{uid}", hot_wallet=f"h-{uid}", amount=600
    )
    bob = await new_request(
        pool, f"hw-{uid}-2", requested_by=f"bob-{uid}", hot_wallet=f"h-{uid}", amount=600
    )
    bob_elsewhere = await new_request(
        pool, f"hw-{uid}-3", requested_by=f"bob-{uid}", hot_wallet=f"h2-{uid}", amount=600
    )
    bob_in_usdc = await new_request(
        pool,
        f"hw-{uid}-4",
        requested_by=f"bob-{uid}",
        hot_wallet=f"h-{uid}",
        amount=600,
        asset="USDC",
    )
    await repo.reserve(pool, *alice, limits)
    with pytest.raises(LimitExceeded, match="hot wallet"):
        await repo.reserve(pool, *bob, limits)
    await repo.reserve(pool, *bob_elsewhere, limits)  # another hot wallet
    await repo.reserve(pool, *bob_in_usdc, limits)  # another asset


async def test_requester_limit_is_per_requester_across_hot_wallets(
    pool: asyncpg.Pool, uid: str
) -> None:
    limits = Limits(requester=1000)
    alice = await new_request(
        pool, f"rq-{uid}-1", requested_by=f"alice-{uid}", hot_wallet=f"h1-{uid}", amount=600
    )
    alice_elsewhere = await new_request(
        pool, f"rq-{uid}-2", requested_by=f"alice-{uid}", hot_wallet=f"h2-{uid}", amount=600
    )
    carol = await new_request(
        pool, f"rq-{uid}-3", requested_by=f"carol-{uid}", hot_wallet=f"h1-{uid}", amount=600
    )
    await repo.reserve(pool, *alice, limits)
    with pytest.raises(LimitExceeded, match="requester"):
        await repo.reserve(pool, *alice_elsewhere, limits)
    await repo.reserve(pool, *carol, limits)  # her own limit, on the same hot wallet


# ---- the freeze --------------------------------------------------------------------------------


async def state(pool: asyncpg.Pool, request_id: str) -> tuple[object, ...]:
    """Everything the freeze must leave alone for a request."""
    status = await pool.fetchval("SELECT status FROM withdrawals WHERE request_id = $1", request_id)
    versions = await pool.fetch(
        "SELECT version, status FROM withdrawal_versions WHERE request_id = $1 ORDER BY version",
        request_id,
    )
    entries = await ledger(pool, [request_id])
    audit = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE subject = $1", f"withdrawal:{request_id}"
    )
    return (
        status,
        [tuple(v) for v in versions],
        [(e["kind"], int(e["amount"])) for e in entries],
        audit,
    )


@pytest.mark.parametrize("limits", [Limits(), Limits(hot_wallet=10**12)], ids=["none", "limits"])
async def test_a_frozen_chain_reserves_saves_and_broadcasts_nothing(
    pool: asyncpg.Pool, uid: str, limits: Limits
) -> None:
    # A chain of this test alone: the freeze must not hold up anything else's withdrawals.
    chain = f"testchain-{uid}"
    who = {"requested_by": f"r-{uid}", "hot_wallet": f"h-{uid}", "chain": chain}
    signed = await new_request(pool, f"frz-{uid}-1", amount=5, **who)
    fresh = await new_request(pool, f"frz-{uid}-2", amount=5, **who)
    await policy.ensure_chain(pool, chain)
    await repo.reserve(pool, *signed, limits)
    version = SignedVersion(
        request_id=signed[0].request_id,
        chain=chain,
        version=1,
        tx_id=f"tx1-{uid}",
        raw="",
        expiry=9,
    )
    await repo.save_version(pool, version, b"v1")
    next_version = version.model_copy(update={"version": 2, "tx_id": f"tx2-{uid}"})
    broadcast = LedgerChange(
        request_id=signed[0].request_id, chain=chain, status="broadcast", version=1
    )
    before = (await state(pool, signed[0].request_id), await state(pool, fresh[0].request_id))

    def entry(action: str) -> AuditEntry:
        return AuditEntry(actor="test", action=f"policy.{action}", subject=f"policy:{chain}")

    assert await policy.set_frozen(pool, chain, True, entry("freeze"))
    try:
        with pytest.raises(Frozen):
            await repo.reserve(pool, *fresh, limits)
        with pytest.raises(Frozen):
            await repo.save_version(pool, next_version, b"v2")
        with pytest.raises(Frozen):
            await repo.record(pool, broadcast)
        # A retry of a reservation made before the freeze is not refused (nothing new).
        await repo.reserve(pool, *signed, limits)
        after = (await state(pool, signed[0].request_id), await state(pool, fresh[0].request_id))
        assert after == before
    finally:
        await policy.set_frozen(pool, chain, False, entry("unfreeze"))
    assert not await repo.frozen(pool, chain)

    await repo.reserve(pool, *fresh, limits)
    assert (await repo.save_version(pool, next_version, b"v2")).tx_id == f"tx2-{uid}"
    await repo.record(pool, broadcast)
    assert (await state(pool, signed[0].request_id))[:3] == (
        "broadcast",
        [(1, "broadcast"), (2, "signed")],
        [("reserve", 5)],
    )
    assert (await state(pool, fresh[0].request_id))[2] == [("reserve", 5)]


async def test_a_freeze_is_dated_after_every_version_saved_before_it(
    pool: asyncpg.Pool, uid: str
) -> None:
    """A signature holding the chain's share lock delays a freeze; a version saved while the
    freeze waits must still be dated before the freeze, so "nothing signed after the freeze"
    can be checked by time."""
    chain = f"testchain-{uid}"
    req = await new_request(
        pool,
        f"frz-late-{uid}",
        amount=5,
        chain=chain,
        requested_by=f"r-{uid}",
        hot_wallet=f"h-{uid}",
    )
    await policy.ensure_chain(pool, chain)
    await repo.reserve(pool, *req, Limits())
    entry = AuditEntry(actor="test", action="policy.freeze", subject=f"policy:{chain}")
    in_flight = await pool.acquire()  # a signature in flight: it holds the share lock
    txn = in_flight.transaction()
    await txn.start()
    committed = False
    await in_flight.execute("SELECT 1 FROM chain_policy WHERE chain = $1 FOR SHARE", chain)
    freezing = asyncio.create_task(policy.set_frozen(pool, chain, True, entry))
    try:

        async def freeze_waits() -> bool:
            return bool(
                await pool.fetchval(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO chain_policy%'"""
                )
            )

        for _ in range(200):
            if await freeze_waits():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the freeze never waited for the share lock")
        await asyncio.sleep(0.05)  # the clock moves on while the freeze waits
        version = SignedVersion(
            request_id=req[0].request_id, chain=chain, version=1, tx_id=f"t-{uid}", raw="", expiry=9
        )
        saving = asyncio.create_task(repo.save_version(pool, version, b"v1"))
        await asyncio.sleep(0.2)
        await txn.commit()
        committed = True
        try:
            await saving
        except Frozen:
            saved_at = None  # queued behind the freeze, then refused: also sound
        else:
            saved_at = await pool.fetchval(
                "SELECT created_at FROM withdrawal_versions WHERE request_id = $1",
                req[0].request_id,
            )
        assert await freezing
        frozen_at = await pool.fetchval(
            "SELECT changed_at FROM chain_policy WHERE chain = $1", chain
        )
    finally:
        if not committed:
            await txn.rollback()
        await pool.release(in_flight)
        await policy.set_frozen(
            pool, chain, False, entry.model_copy(update={"action": "policy.unfreeze"})
        )
    print(f"saved while the freeze waited: {saved_at}; frozen at {frozen_at}")
    assert saved_at is None or saved_at < frozen_at
