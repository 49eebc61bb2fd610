"""Swaps a wallet made, read out of a `getTransaction` result (`json` or `jsonParsed` encoding).
Pure: the RPC calls live in `activities/solana/`.

Amounts come from balance deltas only (pre/post lamports and pre/post token balances), never
from instruction data: a Jupiter route, a Raydium pool, Pump or a bot's own program all read the
same way, with no IDL to keep up with.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# The same key order `parse_transaction` uses: static keys, then lookup-table writable, readonly.
from chains.solana import NATIVE, SOL_MINT, _account_keys
from core.models import SwapSide, WalletEvent

SOL_DECIMALS = 9
# The most SOL that counts as a cost of a token-to-token trade rather than a second leg: tips,
# protocol fees and the rent of an account or two stay under 0.01 SOL.
SOL_COST_LIMIT = 10_000_000


@dataclass(frozen=True)
class Swap:
    """One asset given for one asset received. Amounts are base units (lamports for SOL)."""

    wallet: str
    signature: str
    slot: int
    block_time: int | None
    input_mint: str
    input_amount: int
    input_decimals: int
    output_mint: str
    output_amount: int
    output_decimals: int

    @property
    def price(self) -> Decimal:
        """Output per input in UI units (decimals applied), e.g. USDC per SOL; Decimal's
        default 28 significant digits."""
        given = Decimal(self.input_amount).scaleb(-self.input_decimals)
        got = Decimal(self.output_amount).scaleb(-self.output_decimals)
        return got / given


def parse_swap(tx: dict[str, Any], wallet: str) -> Swap | None:
    """The swap `wallet` made in one confirmed transaction, or None if it made none.

    The wallet's net change per asset:

    - SOL (as `SOL_MINT`, 9 decimals) is its "SOL economy": the wallet's own lamport delta,
      plus the fee when it paid it (account 0: the fee is a cost of sending, not of the trade),
      plus the lamport deltas of the token accounts it owns (pre lamports count while it owns
      the account before, post lamports while it owns it after). That last term nets out SOL
      moved between the wallet and its own accounts: rent of a new ATA, a temporary WSOL
      account opened and closed in the transaction, an emptied token account closed back.
    - A token is the sum of the token-amount deltas of the wallet's accounts for its mint.
      Wrapped SOL is not added here: a WSOL account's lamports are its balance and are already
      in the SOL economy, so adding its token delta would count that SOL twice (and make
      wrapping SOL look like SOL received).

    A negative net change was given (input), a positive one received (output). SOL as a cost:
    when a side also holds a token, SOL of at most `SOL_COST_LIMIT` lamports on that side is a
    cost of the trade (a tip, a protocol fee, rent of someone else's account) and is dropped;
    more SOL than that next to a token is a second leg. When SOL is itself the leg, such costs
    stay in it (a bot's fee on a SOL buy is part of what the buy cost).

    A swap is exactly one asset given and one received; anything else is None: a failed
    transaction (it moved nothing but the fee), a transfer (one side only), wrapping SOL,
    a move of several assets.
    """
    meta = tx.get("meta")
    if not meta or meta.get("err") is not None:
        return None
    deltas, decimals = _net_deltas(tx, wallet)
    given = _one_asset({mint: -d for mint, d in deltas.items() if d < 0})
    got = _one_asset({mint: d for mint, d in deltas.items() if d > 0})
    if given is None or got is None:
        return None
    (input_mint, input_amount), (output_mint, output_amount) = given, got
    return Swap(
        wallet=wallet,
        signature=tx["transaction"]["signatures"][0],
        slot=int(tx["slot"]),
        block_time=tx.get("blockTime"),
        input_mint=input_mint,
        input_amount=input_amount,
        input_decimals=decimals[input_mint],
        output_mint=output_mint,
        output_amount=output_amount,
        output_decimals=decimals[output_mint],
    )


def with_swap(events: list[WalletEvent], tx: dict[str, Any], wallet: str) -> list[WalletEvent]:
    """`events` of one transaction, a swap's two events linked: the received one carries what
    was given (amounts from `parse_swap`, fees excluded), the given one is marked `in_swap`.
    Unchanged when the transaction is no swap, or a side is not among the events (an unlisted
    token)."""
    swap = parse_swap(tx, wallet)
    if swap is None:
        return events

    def asset_id(mint: str) -> str:
        return NATIVE.id if mint == SOL_MINT else mint

    given = [e for e in events if e.direction == "out" and e.asset == asset_id(swap.input_mint)]
    got = [e for e in events if e.direction == "in" and e.asset == asset_id(swap.output_mint)]
    if len(given) != 1 or len(got) != 1:
        return events
    side = SwapSide(
        asset=given[0].asset,
        symbol=given[0].symbol,
        decimals=given[0].decimals,
        amount=swap.input_amount,
    )
    linked = {given[0].key: given[0].model_copy(update={"in_swap": True})}
    linked[got[0].key] = got[0].model_copy(update={"gave": side})
    return [linked.get(e.key, e) for e in events]


def _net_deltas(tx: dict[str, Any], wallet: str) -> tuple[dict[str, int], dict[str, int]]:
    """The wallet's nonzero net change per mint (SOL under `SOL_MINT`), and each mint's
    decimals. The rules are in `parse_swap`."""
    meta = tx["meta"]
    pre, post = meta["preBalances"], meta["postBalances"]
    keys = _account_keys(tx)
    if len(keys) != len(pre):  # e.g. `json` encoding stripped of meta.loadedAddresses
        raise ValueError(f"{len(keys)} account keys for {len(pre)} balances")

    deltas: dict[str, int] = defaultdict(int)
    decimals = {SOL_MINT: SOL_DECIMALS}
    if wallet in keys:
        i = keys.index(wallet)
        deltas[SOL_MINT] += int(post[i]) - int(pre[i])
        if i == 0:
            deltas[SOL_MINT] += int(meta.get("fee", 0))
    # Before entries subtract, after entries add: an account the wallet owns on both sides
    # counts post - pre, one it opened counts post, one it closed counts -pre.
    for sign, lamports, entries in (
        (-1, pre, meta.get("preTokenBalances")),
        (1, post, meta.get("postTokenBalances")),
    ):
        for entry in entries or []:
            if entry.get("owner") != wallet:
                continue
            i = int(entry["accountIndex"])
            deltas[SOL_MINT] += sign * int(lamports[i])
            mint, amount = entry["mint"], entry["uiTokenAmount"]
            if mint != SOL_MINT:
                deltas[mint] += sign * int(amount["amount"])
                decimals[mint] = int(amount["decimals"])
    return {mint: d for mint, d in deltas.items() if d}, decimals


def _one_asset(side: dict[str, int]) -> tuple[str, int] | None:
    """The one asset on a side (mint, amount) once SOL that is only a cost is dropped."""
    sol = side.get(SOL_MINT)
    if sol is not None and len(side) > 1 and sol <= SOL_COST_LIMIT:
        side = {mint: amount for mint, amount in side.items() if mint != SOL_MINT}
    if len(side) != 1:
        return None
    [(mint, amount)] = side.items()
    return mint, amount
