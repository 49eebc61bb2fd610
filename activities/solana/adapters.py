"""Solana I/O: the monitor's reader and the cheap trigger, over solana-py's AsyncClient."""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment, Confirmed, Finalized
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus, TransactionStatus
from temporalio import activity
from temporalio.client import Client

from activities.failover import Endpoint, Endpoints, RpcUnavailable, Shared
from activities.keystore import KeyStore
from activities.monitor import ReadResult
from activities.watch import poke_wallets, run_round
from activities.withdraw import Check, Fuel, InsufficientFunds
from chains import solana as sol
from chains.quorum import MIN_QUORUM, check_quorum, proven_dead
from chains.solana.destinations import AccountView, destination_refusal
from chains.solana.fees import FEE_ALLOWANCE, RENT_EXEMPT_EMPTY, RENT_EXEMPT_TOKEN_ACCOUNT
from chains.solana.signing import SwapTerms, add_signature, swap_refusal
from chains.solana.swaps import with_swap
from core.amounts import from_base_units, plain
from core.assets import Asset
from core.errors import InvalidInput, UserError
from core.models import SweepStep, WatchResult, WatchState
from store import wallets

SIGNATURE_PAGE = 1000  # the node's maximum for getSignaturesForAddress
ACCOUNTS_PER_CALL = 100  # the node's maximum for getMultipleAccounts
SWEEP_CONCURRENCY = 4  # getMultipleAccounts calls in flight during a sweep
# Accounts that do not exist yet (most keys: a wallet's future ATAs) are split in this many
# groups, one swept per sweep: with 20 s sweeps a new ATA is seen within 40 s, at about
# 3.6 getMultipleAccounts calls per wallet-hour for a wallet with two token ATAs to watch.
ABSENT_EVERY = 2
ABSENT = sol.fingerprint(None)
TX_CONCURRENCY = 8
STATUS_BATCH = 256  # the node's maximum for getSignatureStatuses
STATUS_WINDOW = 0.05  # seconds a withdrawal's check waits for others to share its calls
Status = tuple[TransactionStatus | None, int | None]  # a signature's status, a finalized height
BLOCKHASH_REUSE = 0.5  # seconds a fetched blockhash also serves other signers (it lives ~60 s)


def fingerprint(account: Any) -> str:
    """The trigger's digest of an account as getMultipleAccounts returns it (None: absent)."""
    if account is None:
        return sol.fingerprint(None)
    return sol.fingerprint(account.lamports, str(account.owner), bytes(account.data))


async def get_accounts(rpc: Endpoints[AsyncClient], keys: list[str], commitment: Commitment) -> Any:
    return await rpc.call(
        "getMultipleAccounts",
        partial(
            AsyncClient.get_multiple_accounts,
            pubkeys=[Pubkey.from_string(k) for k in keys],
            commitment=commitment,
        ),
    )


def connect(urls: list[str], *, timeout: float = 10) -> Endpoints[AsyncClient]:
    return Endpoints(
        sol.NAME,
        [Endpoint(url, AsyncClient(url, timeout=timeout)) for url in urls],
        transient=(SolanaRpcException, httpx2.HTTPError, OSError),
    )


class SolanaReader:
    """Finalized history of a wallet and of every token account it owns."""

    chain = sol.NAME

    def __init__(self, rpc: Endpoints[AsyncClient], tokens: sol.TokenList) -> None:
        self.rpc = rpc
        self.tokens = tokens

    async def initial_cursor(
        self, address: str, assets: list[str] | None
    ) -> tuple[dict[str, Any], dict[str, str | None]]:
        accounts = [address, *await self._token_accounts(address)]
        keys = self.watch_keys(address, accounts, assets)
        # Fingerprints before the cursor: a change after them is either before the cursor
        # (a poke that finds nothing) or after it (a poke that finds it). Known fingerprints
        # spare the trigger a poke per new wallet on its first sight.
        fingerprints = await self.fingerprints(keys, Finalized)
        newest = await asyncio.gather(*(self._newest_signature(a) for a in accounts))
        cursor = {"addresses": dict(zip(accounts, newest, strict=True))}
        return cursor, dict(fingerprints)

    async def fingerprints(self, keys: list[str], commitment: Commitment) -> list[tuple[str, str]]:
        """(key, fingerprint) for each account, 100 per getMultipleAccounts call."""
        found = []
        for start in range(0, len(keys), ACCOUNTS_PER_CALL):
            chunk = keys[start : start + ACCOUNTS_PER_CALL]
            resp = await get_accounts(self.rpc, chunk, commitment)
            found += [(k, fingerprint(a)) for k, a in zip(chunk, resp.value, strict=True)]
        return found

    def watch_keys(self, address: str, accounts: list[str], assets: list[str] | None) -> list[str]:
        """The wallet, its token accounts, and its (maybe future) ATA for each wanted token, so
        the trigger also sees tokens arriving in a brand-new ATA."""
        wanted = None if assets is None else {a.upper() for a in assets}
        derived = [
            sol.associated_token_address(address, t.id, t.program or sol.TOKEN_PROGRAM)
            for t in self.tokens.tokens
            if wanted is None or t.symbol.upper() in wanted or t.id.upper() in wanted
        ]
        return sorted({*accounts, *derived})

    async def read(
        self,
        address: str,
        cursor: dict[str, Any],
        *,
        limit: int,
        min_block: int | None = None,
        early: bool = False,
    ) -> ReadResult:
        known: dict[str, str | None] = dict(cursor["addresses"])
        level = Confirmed if early else Finalized
        # The finalized slot first: each signature list, asked for afterwards, is complete up
        # to it. With several accounts it bounds the batch too: their lists are fetched (and
        # retried) at slightly different moments, and one reaching further than another
        # would leave that other account's cursor behind, to read the difference again.
        several = len(known) > 1 and not early  # an early read is a glimpse, never a cursor
        final_slot = await self._final_slot() if min_block is not None or several else 0
        lists = await asyncio.gather(
            *(self._signatures_after(a, s, level) for a, s in known.items())
        )
        by_sig: dict[str, dict[str, Any]] = {}
        for entries in lists:
            for rank, entry in enumerate(entries):  # the node lists newest first
                by_sig.setdefault(entry["signature"], {**entry, "rank": rank})
        if not by_sig:
            return ReadResult([], cursor, more=False, final_block=final_slot)

        # Oldest first, whole slots at a time, about `limit` transactions per call. Several
        # transactions often share a slot: within one, the node's order (newest first) is the
        # only order there is, so it is reversed rather than lost.
        ordered = sorted(by_sig.values(), key=lambda e: (e["slot"], -e["rank"]))
        cut = ordered[min(limit, len(ordered)) - 1]["slot"]
        if several:
            cut = min(cut, final_slot)
        batch = [e for e in ordered if e["slot"] <= cut]
        more = len(batch) < len(ordered)

        gate = asyncio.Semaphore(TX_CONCURRENCY)

        async def parse(entry: dict[str, Any]) -> sol.ParsedTx:
            if entry["err"] is not None:
                return sol.ParsedTx()  # failed: moved nothing but the fee
            async with gate:
                tx = await self.transaction(entry["signature"], level)
            parsed = sol.parse_transaction(tx, address, self.tokens)
            parsed.events = with_swap(parsed.events, tx, address)  # shown as one swap
            return parsed

        parsed = await asyncio.gather(*(parse(e) for e in batch))

        new_cursor = dict(known)
        for account, entries in zip(known, lists, strict=True):
            # Each account's newest signature in the batch: the first one the node listed
            # at or below the cut (not the last one sorted by slot, which may be an older
            # transaction of the same slot and would make the next read repeat the newer ones).
            newest = next((e["signature"] for e in entries if e["slot"] <= cut), None)
            if newest is not None:
                new_cursor[account] = newest

        # A token account of the wallet's that appeared in this batch (a new ATA): its history
        # from there on may not involve the wallet's own key, so it is followed from now on,
        # and its part of this batch (up to the cut) is read now: some of it is in the batch
        # already, some involves the token account only.
        first_seen: dict[str, str] = {}
        for entry, p in zip(batch, parsed, strict=True):
            for account in p.token_accounts:
                if account not in known:
                    first_seen.setdefault(account, entry["signature"])
        if first_seen:
            later = await asyncio.gather(
                *(self._signatures_after(a, s, level) for a, s in first_seen.items())
            )
            in_batch = {e["signature"] for e in batch}
            extra = list(
                {
                    e["signature"]: e
                    for entries in later
                    for e in entries
                    if e["slot"] <= cut and e["signature"] not in in_batch
                }.values()
            )
            parsed += await asyncio.gather(*(parse(e) for e in extra))
            for (account, seen), entries in zip(first_seen.items(), later, strict=True):
                new_cursor[account] = next(
                    (e["signature"] for e in entries if e["slot"] <= cut), seen
                )
        events = sorted((ev for p in parsed for ev in p.events), key=lambda ev: ev.block)
        return ReadResult(
            events=events,
            cursor={"addresses": new_cursor},
            more=more or bool(first_seen),
            final_block=final_slot,
            watch_keys=list(first_seen),
        )

    # ---- RPC -----------------------------------------------------------------------------

    async def _final_slot(self) -> int:
        resp = await self.rpc.call("getSlot", lambda c: c.get_slot(Finalized))
        return int(resp.value)

    async def _token_accounts(self, owner: str) -> list[str]:
        found: set[str] = set()
        for program in (sol.TOKEN_PROGRAM, sol.TOKEN_2022_PROGRAM):
            opts = TokenAccountOpts(program_id=Pubkey.from_string(program))
            resp = await self.rpc.call(
                "getTokenAccountsByOwner",
                partial(
                    AsyncClient.get_token_accounts_by_owner,
                    owner=Pubkey.from_string(owner),
                    opts=opts,
                    commitment=Finalized,
                ),
            )
            found.update(str(acc.pubkey) for acc in resp.value)
        return sorted(found)

    async def _newest_signature(self, address: str) -> str | None:
        page = await self._signature_page(address, Finalized, before=None, until=None, limit=1)
        return page[0]["signature"] if page else None

    async def _signatures_after(
        self, address: str, until: str | None, level: Commitment
    ) -> list[dict[str, Any]]:
        """Every signature newer than `until` at `level`, paging back until it is found."""
        found: list[dict[str, Any]] = []
        before = None
        while True:
            page = await self._signature_page(
                address, level, before=before, until=until, limit=SIGNATURE_PAGE
            )
            found.extend(page)
            if len(page) < SIGNATURE_PAGE:
                return found
            before = page[-1]["signature"]

    async def _signature_page(
        self,
        address: str,
        level: Commitment,
        *,
        before: str | None,
        until: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        resp = await self.rpc.call(
            "getSignaturesForAddress",
            lambda c: c.get_signatures_for_address(
                Pubkey.from_string(address),
                before=Signature.from_string(before) if before else None,
                until=Signature.from_string(until) if until else None,
                limit=limit,
                commitment=level,
            ),
        )
        return [{"signature": str(s.signature), "slot": s.slot, "err": s.err} for s in resp.value]

    async def transaction(self, signature: str, level: Commitment) -> dict[str, Any]:
        """getTransaction at `level`, jsonParsed, as plain JSON."""
        resp = await self.rpc.call(
            "getTransaction",
            lambda c: c.get_transaction(
                Signature.from_string(signature),
                encoding="jsonParsed",
                commitment=level,
                max_supported_transaction_version=0,
            ),
        )
        if resp.value is None:
            raise LookupError(f"{level} transaction {signature} not found")
        return json.loads(resp.value.to_json())


class SolanaWatcher:
    """The cheap trigger: every watched account in batches of 100 per call, at `confirmed`.

    Sweeps start every `sweep_seconds` (however long one takes) and run beside the pokes: a
    change found in one batch is acted on while the rest of the sweep goes on. A change pokes
    the wallet's monitor once the finalized slot has passed the slot of the account's newest
    transaction, so the monitor's finalized read finds it at once. A change is remembered
    (its fingerprint saved) only once the poke went out: a worker that dies in between leaves
    the old fingerprint behind, and the next sweep, wherever it runs, sees the change again.
    Accounts that do not exist yet (a wallet's future ATAs: most keys) are checked every
    ABSENT_EVERY sweeps only, a share of them in each sweep so the calls stay even; an account
    that exists, every sweep.
    """

    def __init__(
        self,
        rpc: Endpoints[AsyncClient],
        pool: asyncpg.Pool,
        client: Client,
        *,
        sweep_seconds: float = 20,
        tick_seconds: float = 1,
    ) -> None:
        self.rpc = rpc
        self.pool = pool
        self.client = client
        self.sweep_seconds = sweep_seconds
        self.tick_seconds = tick_seconds

    @activity.defn(name="watch_chain")
    async def watch_chain(self, state: WatchState) -> WatchResult:
        changes = Changes()
        result = WatchResult(position=None)
        next_sweep = 0.0
        sweeps = 0
        sweeping: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()

        async def poke(due: dict[str, int]) -> None:
            seen = changes.fingerprints_of(due)
            result.pokes += await poke_wallets(self.client, sol.NAME, due)
            await wallets.set_fingerprints(self.pool, sol.NAME, seen)
            changes.done(due, seen)

        async def step() -> float:
            nonlocal next_sweep, sweeps, sweeping
            if sweeping is not None and sweeping.done():
                failed, sweeping = sweeping.exception(), None
                if failed is not None:
                    raise failed  # run_round keeps the round alive through RPC trouble
            if sweeping is None and loop.time() >= next_sweep:
                next_sweep = loop.time() + self.sweep_seconds
                group = sweeps % ABSENT_EVERY
                sweeps += 1
                sweeping = asyncio.create_task(self.sweep(changes, absent_group=group))
            if changes.pending:
                final = int((await self.rpc.call("getSlot", lambda c: c.get_slot(Finalized))).value)
                due = {w: s for w, s in changes.pending.items() if s <= final}
                if due:
                    await poke(due)
            return self.tick_seconds

        try:
            await run_round(state.round_seconds, step)
        finally:
            if sweeping is not None:
                sweeping.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sweeping
        if changes.pending:  # don't lose them between rounds
            await poke(dict(changes.pending))
        result.rpc_calls = sum(self.rpc.calls.values())
        return result

    async def sweep(self, changes: Changes, *, absent_group: int | None = None) -> None:
        """Compare the watched accounts with their last fingerprint (saved, or seen but not
        saved yet) and record each change in `changes`, batch by batch, with the slot its
        monitor should wait for. Accounts that still do not exist are saved at once (nothing
        to poke). With `absent_group`, of the accounts last seen absent only that group's."""
        rows = [
            r
            for r in await wallets.watch_keys(self.pool, sol.NAME)
            if absent_group is None
            or r["fingerprint"] != ABSENT
            or r["key"] in changes.unsaved
            or zlib.crc32(r["key"].encode()) % ABSENT_EVERY == absent_group
        ]
        chunks = [rows[i : i + ACCOUNTS_PER_CALL] for i in range(0, len(rows), ACCOUNTS_PER_CALL)]
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def check(chunk: list[asyncpg.Record]) -> None:
            async with gate:
                resp = await get_accounts(self.rpc, [r["key"] for r in chunk], Confirmed)
            activity.heartbeat()
            found: list[tuple[str, str, str, int]] = []  # key, wallet, fingerprint, slot
            quiet: dict[str, str] = {}
            for row, account in zip(chunk, resp.value, strict=True):
                fp, key = fingerprint(account), row["key"]
                before = changes.unsaved[key][1] if key in changes.unsaved else row["fingerprint"]
                if fp == before:
                    continue
                if before is None and fp == ABSENT:
                    quiet[key] = fp  # a derived account that does not exist yet
                else:
                    # A key seen for the first time pokes too: its fingerprint was not known
                    # when the monitor took its cursor.
                    found.append((key, row["wallet"], fp, resp.context.slot))
            await wallets.set_fingerprints(self.pool, sol.NAME, quiet)
            # Wait for the slot of the account's newest transaction, not for the (later) slot
            # the sweep saw it at: the monitor is then poked as soon as that one is final.
            slots = await asyncio.gather(*(self._newest_slot(k, s, gate) for k, _, _, s in found))
            for (key, wallet, fp, _), slot in zip(found, slots, strict=True):
                changes.add(key, wallet, fp, slot)

        await asyncio.gather(*map(check, chunks))

    async def _newest_slot(self, key: str, seen_at: int, gate: asyncio.Semaphore) -> int:
        async with gate:
            try:
                resp = await self.rpc.call(
                    "getSignaturesForAddress",
                    lambda c: c.get_signatures_for_address(
                        Pubkey.from_string(key), limit=1, commitment=Confirmed
                    ),
                )
            except RpcUnavailable:
                return seen_at  # later than needed, never too early
        return int(resp.value[0].slot) if resp.value else seen_at


@dataclass
class Changes:
    """What the trigger has seen and not yet told the monitors about."""

    pending: dict[str, int] = field(default_factory=dict)  # wallet -> slot to wait for
    unsaved: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (wallet, fp)

    def add(self, key: str, wallet: str, fp: str, slot: int) -> None:
        self.unsaved[key] = (wallet, fp)
        self.pending[wallet] = max(slot, self.pending.get(wallet, 0))

    def fingerprints_of(self, due: dict[str, int]) -> dict[str, str]:
        return {key: fp for key, (wallet, fp) in self.unsaved.items() if wallet in due}

    def done(self, due: dict[str, int], saved: dict[str, str]) -> None:
        """Forget what was poked and saved, unless a newer change came in meanwhile."""
        for key, fp in saved.items():
            if self.unsaved.get(key, ("", ""))[1] == fp:
                del self.unsaved[key]
        for wallet, slot in due.items():
            if self.pending.get(wallet) == slot:
                del self.pending[wallet]


class SolanaSender:
    """Withdrawals from the Solana hot wallet. The key is read from the key store only here.

    `allow_program_owned` (worker setting WITHDRAWAL_ALLOW_PROGRAM_OWNED, default off): let SOL
    go to program-owned or off-curve addresses and SOL or tokens to programs, e.g. to a
    multisig vault (see chains/solana/destinations.py). Token accounts, mints and the hot
    wallet itself stay refused whatever it says.
    `expected_hot_wallet` (WALLETFLOW_SOLANA_HOT_WALLET): the address the key must be the key
    of; a key store handing out another key is refused before anything is signed.
    `expiry_quorum` (WITHDRAWAL_EXPIRY_QUORUM, default and minimum 2): how many independent
    providers (RPC endpoints distinct by host:port) must each prove a version dead before
    `check` says "expired", the one answer that allows a re-sign (chains/quorum.py).
    """

    chain = sol.NAME

    def __init__(
        self,
        rpc: Endpoints[AsyncClient],
        tokens: sol.TokenList,
        keys: KeyStore,
        *,
        poll_seconds: float = 2.0,
        allow_program_owned: bool = False,
        expected_hot_wallet: str | None = None,
        expiry_quorum: int = MIN_QUORUM,
    ) -> None:
        self.rpc = rpc
        self.expiry_quorum = check_quorum(expiry_quorum)
        self.tokens = tokens
        self.keys = keys
        self.poll_seconds = poll_seconds
        self.allow_program_owned = allow_program_owned
        self.expected_hot_wallet = (
            sol.normalize_address(expected_hot_wallet) if expected_hot_wallet else None
        )
        # A leader drops what it can't fit: re-send at every look until it lands, as wallets do.
        self.resend_seconds = poll_seconds
        # (signature, its waiter): (status, finalized height or None), see _status
        self._waiting: list[tuple[str, asyncio.Future[Status]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._blockhash = Shared(BLOCKHASH_REUSE, self._latest_blockhash)

    def _keypair(self) -> Keypair:
        try:
            keypair = Keypair.from_base58_string(self.keys.secret(sol.NAME))
        except ValueError:
            raise UserError("the solana hot-wallet key is not a base58 keypair") from None
        address = str(keypair.pubkey())
        if self.expected_hot_wallet is not None and address != self.expected_hot_wallet:
            raise UserError(
                f"the {sol.NAME} hot-wallet key belongs to {address}, not to the configured hot "
                f"wallet {self.expected_hot_wallet} ({sol.ENV.hot_wallet}): refusing to use it"
            )
        return keypair

    def hot_wallet(self) -> str:
        return str(self._keypair().pubkey())

    async def _accounts(self, *addresses: str) -> list[Account | None]:
        """Several accounts at `confirmed` in one call (getMultipleAccounts), None where one
        does not exist: the balance check reads everything it needs at once, instead of one
        call after the other."""
        resp = await self.rpc.call(
            "getMultipleAccounts",
            partial(
                AsyncClient.get_multiple_accounts,
                pubkeys=[Pubkey.from_string(a) for a in addresses],
                commitment=Confirmed,
            ),
        )
        return list(resp.value)

    async def check_destination(self, asset: Asset, to: str) -> None:
        """Raise InvalidInput (one line) if `to` must not receive `asset`: the hot wallet, a
        mint, a token account given for a token, and (unless allow_program_owned) a program,
        a program-owned or off-curve address for SOL. Reads the account at `confirmed`."""
        [account] = await self._accounts(to)
        view = (
            None
            if account is None
            else AccountView(str(account.owner), account.executable, bytes(account.data))
        )
        refusal = destination_refusal(
            to,
            asset,
            view,
            hot_wallet=self.hot_wallet(),
            mints=[t.id for t in self.tokens.tokens],
            allow_program_owned=self.allow_program_owned,
        )
        if refusal is not None:
            raise InvalidInput(refusal)

    async def check_funds(self, asset: Asset, to: str, amount: int) -> None:
        hot = self.hot_wallet()
        if asset.native:
            hot_account, dest = await self._accounts(hot, to)
            lamports = hot_account.lamports if hot_account else 0
            if dest is None and amount < RENT_EXEMPT_EMPTY:
                rent = plain(from_base_units(RENT_EXEMPT_EMPTY, 9))
                raise InsufficientFunds(
                    f"{to} does not exist yet: send at least {rent} SOL so it can (rent exemption)"
                )
            need = amount + FEE_ALLOWANCE + RENT_EXEMPT_EMPTY  # the hot wallet must survive too
            if lamports < need:
                raise InsufficientFunds(f"hot wallet has {lamports} lamports, needs {need}")
            return
        program = asset.program or sol.TOKEN_PROGRAM
        source = sol.associated_token_address(hot, asset.id, program)
        dest_ata = sol.associated_token_address(to, asset.id, program)
        hot_account, source_account, dest = await self._accounts(hot, source, dest_ata)
        lamports = hot_account.lamports if hot_account else 0
        balance = token_amount(source_account, program)
        if balance < amount:
            raise InsufficientFunds(f"hot wallet holds {balance} base units of {asset.symbol}")
        need = FEE_ALLOWANCE + (0 if dest is not None else RENT_EXEMPT_TOKEN_ACCOUNT)
        if lamports < need:
            raise InsufficientFunds(f"hot wallet has {lamports} lamports for fees, needs {need}")

    async def sign(self, asset: Asset, to: str, amount: int) -> tuple[bytes, str, int]:
        keypair = self._keypair()
        blockhash, last_valid = await self._blockhash.get()
        message = sol.transfer_message(str(keypair.pubkey()), to, asset, amount, str(blockhash))
        tx = Transaction([keypair], message, blockhash)
        return bytes(tx), str(tx.signatures[0]), last_valid

    async def sweep_amount(self, asset: Asset, source: str, credited: int) -> tuple[int, bool]:
        """SOL: the credited lamports, or everything when what would stay is below rent
        exemption (the runtime refuses to leave it; the dust goes along). A token: the credited
        units, closing the token account when that empties it (its rent goes to the hot
        wallet). The hot wallet pays the fee and, if missing, its own token account."""
        hot = self.hot_wallet()
        if asset.native:
            hot_account, account = await self._accounts(hot, source)
            held = account.lamports if account else 0
            amount, close = (held if held - credited < RENT_EXEMPT_EMPTY else credited), False
            need = FEE_ALLOWANCE
        else:
            program = asset.program or sol.TOKEN_PROGRAM
            token_account = sol.associated_token_address(source, asset.id, program)
            hot_ata = sol.associated_token_address(hot, asset.id, program)
            hot_account, account, ours = await self._accounts(hot, token_account, hot_ata)
            held = token_amount(account, program)
            amount, close = credited, held == credited
            need = FEE_ALLOWANCE + (0 if ours is not None else RENT_EXEMPT_TOKEN_ACCOUNT)
        if held < credited:
            raise InsufficientFunds(
                f"{source} holds {held} base units of {asset.symbol}, {credited} credited"
            )
        lamports = hot_account.lamports if hot_account else 0
        if lamports < need:
            raise InsufficientFunds(
                f"hot wallet has {lamports} lamports for the sweep's fees, needs {need}"
            )
        return amount, close

    async def sign_sweep(
        self, asset: Asset, source_secret: str, amount: int, close: bool
    ) -> tuple[bytes, str, int]:
        payer, source = self._keypair(), Keypair.from_base58_string(source_secret)
        blockhash, last_valid = await self._blockhash.get()
        message = sol.sweep_message(
            str(payer.pubkey()), str(source.pubkey()), asset, amount, close, str(blockhash)
        )
        tx = Transaction([payer, source], message, blockhash)
        return bytes(tx), str(tx.signatures[0]), last_valid

    async def balances(self, asset: Asset, owners: list[str]) -> list[int]:
        """At `finalized`, 100 accounts a call (getMultipleAccounts)."""
        program = asset.program or sol.TOKEN_PROGRAM
        keys = [
            o if asset.native else sol.associated_token_address(o, asset.id, program)
            for o in owners
        ]
        found: list[int] = []
        for start in range(0, len(keys), ACCOUNTS_PER_CALL):
            resp = await self.rpc.call(
                "getMultipleAccounts",
                partial(
                    AsyncClient.get_multiple_accounts,
                    pubkeys=[
                        Pubkey.from_string(k) for k in keys[start : start + ACCOUNTS_PER_CALL]
                    ],
                    commitment=Finalized,
                ),
            )
            for account in resp.value:
                if asset.native:
                    found.append(account.lamports if account else 0)
                else:
                    found.append(token_amount(account, program))
        return found

    async def sweep_steps(
        self, asset: Asset, source: str, amount: int, pending_loans: int, fuel: Fuel
    ) -> list[SweepStep]:
        return []  # the hot wallet pays the fee in the sweep's own transaction

    async def sign_sweep_step(self, step: SweepStep, deposit: str) -> tuple[bytes, str, int]:
        raise InvalidInput(f"a Solana sweep has no {step.kind} step")

    def sign_offer(self, tx: VersionedTransaction, terms: SwapTerms) -> tuple[bytes, str]:
        """A venue's partly signed swap, checked against what the hot wallet agreed to, then
        signed at its index: (exact bytes, transaction id). InvalidInput if it is not."""
        refusal = swap_refusal(tx, terms)
        if refusal is not None:
            raise InvalidInput(refusal)
        signed = add_signature(tx, self._keypair())
        return bytes(signed), str(signed.signatures[0])

    async def _latest_blockhash(self) -> tuple[Hash, int]:
        """A blockhash at `confirmed` and its last valid block height, read through
        `self._blockhash`: signers within BLOCKHASH_REUSE seconds share one. Their transactions
        still differ (each its own message) and each keeps nearly all of the blockhash's
        lifetime. A re-sign comes after the old version's expiry was proven on finalized data,
        so even a shared blockhash is a newer one than the dead version's."""
        latest = await self.rpc.call(
            "getLatestBlockhash", partial(AsyncClient.get_latest_blockhash, commitment=Confirmed)
        )
        return latest.value.blockhash, int(latest.value.last_valid_block_height)

    async def broadcast(self, raw: bytes) -> str | None:
        opts = TxOpts(skip_preflight=False, preflight_commitment=Confirmed, max_retries=0)
        try:
            await self.rpc.call(
                "sendTransaction", partial(AsyncClient.send_raw_transaction, txn=raw, opts=opts)
            )
        except RPCException as exc:
            text = str(exc)
            if "AlreadyProcessed" in text or "already been processed" in text:
                return None
            return text[:300]
        return None

    async def check(self, tx_id: str, expiry: int) -> tuple[Check, str | None]:
        status, height = await self._status(tx_id)
        if status is not None:
            return _decided(status)
        if height is not None and height > expiry:
            # One provider's word (or a failover pair's): the quorum decides.
            return await self._expired_on_quorum(tx_id, expiry)
        return "pending", None

    async def _expired_on_quorum(self, tx_id: str, expiry: int) -> tuple[Check, str | None]:
        """Say "expired" only if `expiry_quorum` independent providers each prove it on their own
        reads (`_proof_on`); a provider that knows the signature decides as `check` does (a
        transaction we sent, seen on chain, is safe to believe). Otherwise "pending": the
        version is not proven dead, nothing is re-signed, and a withdrawal that stays
        undecided goes to manual review."""
        providers = self.rpc.independent()
        if len(providers) < self.expiry_quorum:
            return "pending", (
                f"expiry passed on one provider; proving it needs {self.expiry_quorum} "
                f"independent RPC providers, {len(providers)} configured"
            )
        answers = await asyncio.gather(
            *(self._proof_on(e, tx_id) for e in providers), return_exceptions=True
        )
        proofs = []
        for answer in answers:
            if isinstance(answer, BaseException):
                proofs.append(False)  # unreachable: no proof either way
                continue
            status, height = answer
            if status is not None:
                return _decided(status)
            proofs.append(height is not None and height > expiry)
        if proven_dead(proofs, self.expiry_quorum):
            return "expired", (
                f"{sum(proofs)} of {len(providers)} providers: finalized block height passed "
                f"{expiry} without it landing"
            )
        return "pending", (
            f"expiry proven by {sum(proofs)} of {len(providers)} providers, "
            f"{self.expiry_quorum} needed"
        )

    async def _proof_on(self, endpoint: Endpoint[AsyncClient], tx_id: str) -> Status:
        """`_status`, on one endpoint alone and unbatched: the signature's status, and the
        finalized block height read before it when the status answer had seen that height's
        slot (the minContextSlot rule of `_status`), else None."""
        final = await self.rpc.call_on(
            endpoint, "getEpochInfo", partial(AsyncClient.get_epoch_info, commitment=Finalized)
        )
        resp = await self.rpc.call_on(
            endpoint,
            "getSignatureStatuses",
            partial(
                AsyncClient.get_signature_statuses,
                signatures=[Signature.from_string(tx_id)],
                search_transaction_history=True,
            ),
        )
        seen = resp.context.slot >= final.value.absolute_slot
        return resp.value[0], final.value.block_height if seen else None

    async def _status(self, tx_id: str) -> Status:
        """The signature's status, and the finalized block height read *before* it: if that
        height is past the expiry and the signature is still unknown afterwards, the
        transaction can never land (a landing would be in that history).

        That holds only if the node answering the status had seen the height's slot: behind
        a failover or a provider's load balancer the two reads may reach different nodes, and
        a lagging one does not know a transaction that did land. So the height is given only
        when the status response's context slot is at or past the finalized slot read with
        the height (Solana's minContextSlot rule); otherwise None, and nothing is proven.

        The withdrawals in flight on this worker share the calls: checks that arrive within
        STATUS_WINDOW go out as one getEpochInfo and one getSignatureStatuses (up to 256
        signatures), instead of two calls each. Every check in a batch was asked before the
        height was read, so the proof above holds for each of them.
        """
        waiter: asyncio.Future[Status]
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((tx_id, waiter))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_statuses())
        return await waiter

    async def _flush_statuses(self) -> None:
        while self._waiting:
            await asyncio.sleep(STATUS_WINDOW)
            batch = self._waiting[:STATUS_BATCH]
            del self._waiting[:STATUS_BATCH]
            try:
                final = await self.rpc.call(
                    "getEpochInfo", partial(AsyncClient.get_epoch_info, commitment=Finalized)
                )
                resp = await self.rpc.call(
                    "getSignatureStatuses",
                    partial(
                        AsyncClient.get_signature_statuses,
                        signatures=[Signature.from_string(tx_id) for tx_id, _ in batch],
                        search_transaction_history=True,
                    ),
                )
            except Exception as exc:  # each waiting activity fails (and is retried) as before
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            seen = resp.context.slot >= final.value.absolute_slot
            height = final.value.block_height if seen else None
            for (_, waiter), status in zip(batch, resp.value, strict=True):
                if not waiter.done():  # a cancelled activity no longer waits
                    waiter.set_result((status, height))


def _decided(status: TransactionStatus) -> tuple[Check, str | None]:
    """Where a transaction the node knows stands."""
    if status.confirmation_status != TransactionConfirmationStatus.Finalized:
        return "landed", "landed, not finalized yet"
    if status.err is not None:
        return "failed", f"failed on chain: {status.err}"
    return "confirmed", None


def token_amount(account: Account | None, program: str) -> int:
    """The balance of a token account (SPL and Token-2022 share the layout: mint, owner, then
    the amount as a little-endian u64); 0 when it does not exist or is not one of `program`."""
    if account is None or str(account.owner) != program or len(account.data) < 72:
        return 0
    return int.from_bytes(bytes(account.data)[64:72], "little")
