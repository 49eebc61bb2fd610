"""A swap venue on the Solana devnet that speaks Jupiter's Swap API (v1).

    GET  /swap/v1/quote?inputMint&outputMint&amount&slippageBps&swapMode=ExactIn
    POST /swap/v1/swap   {quoteResponse, userPublicKey, prioritizationFeeLamports}
    POST /_devnet/pools  {mintA, mintB, reserveA, reserveB, feeBps}: create or seed a pool
    GET  /_devnet/pools  the pools with their reserves

No on-chain program can be built here (no SBF toolchain), so the venue settles the way
request-for-quote market makers do on Solana: `/swap` returns a versioned transaction holding
real System and Token transfers in both directions, already signed by the pool's authority; the
user adds their signature at their own index and sends it. The swap is atomic because both
legs are in one transaction. A client that rebuilds the transaction with its own signature only
(`VersionedTransaction(message, [keypair])`) cannot: the authority's signature is required.

Pools are constant-product (x*y=k, fee taken from the input) over reserves that really sit on
chain: SOL in the pool authority's system account (above its rent-exempt minimum), tokens in
the authority's associated token accounts. Every pool has its own authority keypair, derived
from the devnet seed and the pair, so balances never mix between pools.

Slippage. The signed transfers carry fixed amounts, so nothing on chain enforces a minimum
output. `/swap` therefore re-prices the quote against the reserves *after every outstanding
swap* (signed, not yet landed, blockhash still valid) and refuses with a Jupiter-style error
when the output would fall below the quote's `otherAmountThreshold`. An outstanding swap stops
counting when its transaction lands (failed or not) or its `lastValidBlockHeight` passes.

SOL is named by the wrapped-SOL mint, as in Jupiter; the venue moves native SOL (no wrapping).
Only `swapMode=ExactIn` is served, and only direct routes (one pool).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from devnet.faults import ADMIN_PREFIX
from devnet.solana import tokens
from devnet.solana.chain import SYSTEM_PROGRAM_ID, SolanaChain, derive_keypair

SOL_MINT = "So11111111111111111111111111111111111111112"
COMPUTE_UNIT_LIMIT = 120_000  # what a venue swap needs, with room; fixes the priority price
DEFAULT_PRIORITY_LAMPORTS = 10_000  # for prioritizationFeeLamports "auto"
MAX_SLIPPAGE_BPS = 10_000


class VenueError(Exception):
    """Answered as Jupiter does: HTTP 400 with `{"error", "errorCode"}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Pool:
    mint_a: str
    mint_b: str
    fee_bps: int
    authority: Keypair

    @property
    def key(self) -> str:
        return str(self.authority.pubkey())

    def other(self, mint: str) -> str:
        return self.mint_b if mint == self.mint_a else self.mint_a


@dataclass
class Outstanding:
    """A swap signed by a pool authority whose transaction has not landed yet."""

    authority_signature: str
    pool: str
    in_mint: str
    in_amount: int
    out_mint: str
    out_amount: int
    last_valid_height: int


def constant_product(r_in: int, r_out: int, amount: int, fee_bps: int) -> tuple[int, int]:
    """(output, fee) of swapping `amount` in: the fee (rounded up) stays in the pool, and the
    output is rounded down, so rounding never takes from the pool."""
    fee = -(-amount * fee_bps // 10_000)
    net = amount - fee
    return r_out * net // (r_in + net), fee


class SwapVenue:
    """Pools, quotes and partially signed swaps over `chain` (see the module docs)."""

    def __init__(self, chain: SolanaChain) -> None:
        self.chain = chain
        self.outstanding: dict[str, Outstanding] = {}  # by the authority's signature
        self._seen_txs = 0  # chain.txs already checked for outstanding swaps

    # ---- pools --------------------------------------------------------------------------

    def pools(self) -> list[Pool]:
        return [self._pool(a, b, fee) for a, b, fee in self.chain.pools]

    def _pool(self, mint_a: str, mint_b: str, fee_bps: int) -> Pool:
        label = f"pool:{mint_a}:{mint_b}"
        return Pool(mint_a, mint_b, fee_bps, derive_keypair(self.chain.config.seed, label))

    def find(self, mint_in: str, mint_out: str) -> Pool | None:
        return next((p for p in self.pools() if {p.mint_a, p.mint_b} == {mint_in, mint_out}), None)

    def _program(self, mint: str) -> Pubkey:
        try:
            key = Pubkey.from_string(mint)
        except ValueError:
            raise VenueError("INVALID_REQUEST", f"{mint!r} is not a mint address") from None
        account = self.chain.account(key)
        if account is None or str(account.owner) not in tokens.TOKEN_PROGRAMS:
            raise VenueError("TOKEN_NOT_TRADABLE", f"{mint} is not a token mint")
        return account.owner

    def _vault(self, pool: Pool, mint: str) -> Pubkey:
        return get_associated_token_address(
            pool.authority.pubkey(), Pubkey.from_string(mint), self._program(mint)
        )

    def reserve(self, pool: Pool, mint: str) -> int:
        """What the pool holds of `mint` on chain, now."""
        if mint == SOL_MINT:
            account = self.chain.account(pool.authority.pubkey())
            lamports = account.lamports if account is not None else 0
            return max(lamports - self.chain.svm.minimum_balance_for_rent_exemption(0), 0)
        account = self.chain.account(self._vault(pool, mint))
        parsed = tokens.parse_token_account(bytes(account.data)) if account is not None else None
        return parsed.amount if parsed is not None else 0

    def add_liquidity(
        self, mint_a: str, mint_b: str, amount_a: int, amount_b: int, fee_bps: int
    ) -> Pool:
        """Create the pool if it is new, and add reserves to it (devnet privilege: the tokens
        are minted into the vault and the SOL is created, as genesis does)."""
        if mint_a == mint_b:
            raise VenueError("INVALID_REQUEST", "a pool needs two different mints")
        if not 0 <= fee_bps < 10_000:
            raise VenueError("INVALID_REQUEST", "feeBps must be within 0..9999")
        if amount_a < 0 or amount_b < 0:
            raise VenueError("INVALID_REQUEST", "reserves must be >= 0")
        for mint in (mint_a, mint_b):
            if mint != SOL_MINT:
                self._program(mint)
        pool = self.find(mint_a, mint_b)
        if pool is None:
            self.chain.pools.append((mint_a, mint_b, fee_bps))
            pool = self._pool(mint_a, mint_b, fee_bps)
        for mint, amount in ((mint_a, amount_a), (mint_b, amount_b)):
            self._credit(pool, mint, amount)
        self.chain.dirty = True
        return pool

    def _credit(self, pool: Pool, mint: str, amount: int) -> None:
        chain = self.chain
        owner = pool.authority.pubkey()
        if mint == SOL_MINT:
            current = chain.account(owner)
            floor = chain.svm.minimum_balance_for_rent_exemption(0)
            lamports = (current.lamports if current is not None else floor) + amount
            chain.put_account(owner, lamports, b"", SYSTEM_PROGRAM_ID)
            return
        program = self._program(mint)
        mint_key = Pubkey.from_string(mint)
        vault = self._vault(pool, mint)
        held = self.reserve(pool, mint)
        data = tokens.token_account_data(
            mint_key, owner, held + amount, token_2022=program == tokens.TOKEN_2022_PROGRAM_ID
        )
        chain.put_account(vault, None, data, program)
        mint_account = chain.account(mint_key)
        assert mint_account is not None
        parsed = tokens.parse_mint(bytes(mint_account.data))
        assert parsed is not None and parsed.mint_authority is not None
        supply = tokens.mint_data(
            Pubkey.from_string(parsed.mint_authority), parsed.supply + amount, parsed.decimals
        )
        chain.put_account(mint_key, mint_account.lamports, supply, program)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "ammKey": p.key,
                "mintA": p.mint_a,
                "mintB": p.mint_b,
                "feeBps": p.fee_bps,
                "reserveA": str(self.reserve(p, p.mint_a)),
                "reserveB": str(self.reserve(p, p.mint_b)),
            }
            for p in self.pools()
        ]

    # ---- outstanding swaps ----------------------------------------------------------------

    def _settle(self) -> None:
        """Forget outstanding swaps that landed (their effect is in the reserves now) or can no
        longer land (their blockhash expired)."""
        txs = self.chain.txs
        for record in txs[self._seen_txs :]:
            for sig in record.tx.signatures[1:]:
                self.outstanding.pop(str(sig), None)
        self._seen_txs = len(txs)
        height = self.chain.height
        for key, swap in list(self.outstanding.items()):
            if swap.last_valid_height < height:
                del self.outstanding[key]

    def pending(self) -> list[Outstanding]:
        """The swaps that still count against the reserves."""
        self._settle()
        return list(self.outstanding.values())

    def effective_reserves(self, pool: Pool, mint_in: str) -> tuple[int, int]:
        """(input, output) reserves as if every outstanding swap of the pool had landed."""
        self._settle()
        mint_out = pool.other(mint_in)
        reserves = {mint_in: self.reserve(pool, mint_in), mint_out: self.reserve(pool, mint_out)}
        for swap in self.outstanding.values():
            if swap.pool == pool.key:
                reserves[swap.in_mint] += swap.in_amount
                reserves[swap.out_mint] -= swap.out_amount
        return reserves[mint_in], reserves[mint_out]

    # ---- quote and swap -------------------------------------------------------------------

    def quote(self, params: dict[str, str]) -> dict[str, Any]:
        started = time.perf_counter()
        mint_in = _required(params, "inputMint")
        mint_out = _required(params, "outputMint")
        amount = _amount(_required(params, "amount"), "amount")
        slippage = _integer(params.get("slippageBps", "50"), "slippageBps")
        if not 0 <= slippage <= MAX_SLIPPAGE_BPS:
            raise VenueError(
                "INVALID_SLIPPAGE", f"slippageBps must be within 0..{MAX_SLIPPAGE_BPS}"
            )
        mode = params.get("swapMode", "ExactIn")
        if mode != "ExactIn":
            raise VenueError("NOT_SUPPORTED", f"swapMode {mode} is not served by the devnet venue")
        if mint_in == mint_out:
            raise VenueError("CIRCULAR_ARBITRAGE_IS_DISABLED", "inputMint equals outputMint")
        pool = self.find(mint_in, mint_out)
        if pool is None:
            raise VenueError("COULD_NOT_FIND_ANY_ROUTE", "Could not find any route")
        r_in, r_out = self.effective_reserves(pool, mint_in)
        out, fee = constant_product(r_in, r_out, amount, pool.fee_bps)
        if out <= 0:
            raise VenueError("COULD_NOT_FIND_ANY_ROUTE", "the amount is too small to route")
        spot = Decimal(amount - fee) * r_out / r_in
        impact = (spot - out) / spot if spot else Decimal(0)
        return {
            "inputMint": mint_in,
            "inAmount": str(amount),
            "outputMint": mint_out,
            "outAmount": str(out),
            "otherAmountThreshold": str(out * (10_000 - slippage) // 10_000),
            "swapMode": "ExactIn",
            "slippageBps": slippage,
            "platformFee": None,
            "priceImpactPct": str(impact.quantize(Decimal("1e-12")).normalize()),
            "routePlan": [
                {
                    "swapInfo": {
                        "ammKey": pool.key,
                        "label": "Devnet CPMM",
                        "inputMint": mint_in,
                        "outputMint": mint_out,
                        "inAmount": str(amount),
                        "outAmount": str(out),
                        "feeAmount": str(fee),
                        "feeMint": mint_in,
                    },
                    "percent": 100,
                }
            ],
            "contextSlot": self.chain.slot,
            "timeTaken": round(time.perf_counter() - started, 6),
        }

    def swap(self, body: dict[str, Any]) -> dict[str, Any]:
        quote = body.get("quoteResponse")
        if not isinstance(quote, dict):
            raise VenueError("INVALID_REQUEST", "quoteResponse is required")
        try:
            user = Pubkey.from_string(str(body.get("userPublicKey", "")))
        except ValueError:
            raise VenueError("INVALID_REQUEST", "userPublicKey is not a public key") from None
        priority = _priority(body.get("prioritizationFeeLamports"))
        mint_in, mint_out = str(quote.get("inputMint")), str(quote.get("outputMint"))
        amount = _amount(str(quote.get("inAmount")), "inAmount")
        threshold = _integer(str(quote.get("otherAmountThreshold")), "otherAmountThreshold")
        pool = self.find(mint_in, mint_out)
        if pool is None or quote.get("swapMode", "ExactIn") != "ExactIn":
            raise VenueError("COULD_NOT_FIND_ANY_ROUTE", "the quote names no route of this venue")
        # Re-price now, after every outstanding swap: the quoted amount is not trusted.
        r_in, r_out = self.effective_reserves(pool, mint_in)
        out, _ = constant_product(r_in, r_out, amount, pool.fee_bps)
        if out < threshold or out <= 0:
            raise VenueError(
                "SLIPPAGE_TOLERANCE_EXCEEDED",
                f"Slippage tolerance exceeded: the output would be {out}, "
                f"below otherAmountThreshold {threshold}",
            )
        block = self.chain.block_at("confirmed")
        last_valid = self.chain.last_valid_block_height(block)
        instructions = [
            set_compute_unit_limit(COMPUTE_UNIT_LIMIT),
            # Rounded down: prioritizationFeeLamports is a ceiling the user set.
            set_compute_unit_price(priority * 1_000_000 // COMPUTE_UNIT_LIMIT),
            *self._legs(pool, user, mint_in, amount, mint_out, out),
        ]
        message = MessageV0.try_compile(user, instructions, [], Hash.from_string(block.blockhash))
        signed = pool.authority.sign_message(to_bytes_versioned(message))
        signers = list(message.account_keys[: message.header.num_required_signatures])
        signatures = [
            signed if key == pool.authority.pubkey() else Signature.default() for key in signers
        ]
        tx = VersionedTransaction.populate(message, signatures)
        self.outstanding[str(signed)] = Outstanding(
            str(signed), pool.key, mint_in, amount, mint_out, out, last_valid
        )
        return {
            "swapTransaction": base64.b64encode(bytes(tx)).decode(),
            "lastValidBlockHeight": last_valid,
            "prioritizationFeeLamports": priority,
            "computeUnitLimit": COMPUTE_UNIT_LIMIT,
        }

    def _legs(
        self, pool: Pool, user: Pubkey, mint_in: str, amount: int, mint_out: str, out: int
    ) -> list[Instruction]:
        authority = pool.authority.pubkey()
        legs = [self._move(mint_in, user, authority, amount, payer=user)]
        legs += [self._move(mint_out, authority, user, out, payer=user)]
        return [ix for group in legs for ix in group]

    def _move(
        self, mint: str, source: Pubkey, dest: Pubkey, amount: int, *, payer: Pubkey
    ) -> list[Instruction]:
        if mint == SOL_MINT:
            return [transfer(TransferParams(from_pubkey=source, to_pubkey=dest, lamports=amount))]
        program = self._program(mint)
        mint_key = Pubkey.from_string(mint)
        decimals = self.chain.decimals(mint)
        assert decimals is not None
        opening = []
        if dest == payer:  # the user's account may be new: they open it (idempotent)
            opening = [create_idempotent_associated_token_account(payer, dest, mint_key, program)]
        return [
            *opening,
            transfer_checked(
                TransferCheckedParams(
                    program_id=program,
                    source=get_associated_token_address(source, mint_key, program),
                    mint=mint_key,
                    dest=get_associated_token_address(dest, mint_key, program),
                    owner=source,
                    amount=amount,
                    decimals=decimals,
                )
            ),
        ]

    # ---- HTTP -----------------------------------------------------------------------------

    def add_routes(self, app: web.Application, load: Any) -> None:
        """Mount the API; `load` makes sure the chain exists before a call."""

        async def quote(request: web.Request) -> web.Response:
            load()
            return _answer(lambda: self.quote(dict(request.query)))

        async def swap(request: web.Request) -> web.Response:
            load()
            body = await _json_object(request)
            return _answer(lambda: self.swap(body))

        async def pools(request: web.Request) -> web.Response:
            load()
            if request.method == "GET":
                return web.json_response(self.describe())
            body = await _json_object(request)

            def add() -> dict[str, Any]:
                pool = self.add_liquidity(
                    str(body.get("mintA")),
                    str(body.get("mintB", SOL_MINT)),
                    _integer(str(body.get("reserveA", "0")), "reserveA"),
                    _integer(str(body.get("reserveB", "0")), "reserveB"),
                    _integer(str(body.get("feeBps", "30")), "feeBps"),
                )
                return next(p for p in self.describe() if p["ammKey"] == pool.key)

            return _answer(add)

        app.router.add_get("/swap/v1/quote", quote)
        app.router.add_post("/swap/v1/swap", swap)
        app.router.add_get(ADMIN_PREFIX + "pools", pools)
        app.router.add_post(ADMIN_PREFIX + "pools", pools)


def _answer(call: Any) -> web.Response:
    try:
        return web.json_response(call())
    except VenueError as exc:
        return web.json_response({"error": str(exc), "errorCode": exc.code}, status=400)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise VenueError("INVALID_REQUEST", f"{name} is required")
    return value


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise VenueError("INVALID_REQUEST", f"{name} must be an integer, got {text!r}") from None


def _amount(text: str, name: str) -> int:
    value = _integer(text, name)
    if value <= 0:
        raise VenueError("INVALID_REQUEST", f"{name} must be greater than 0")
    return value


def _priority(value: Any) -> int:
    """prioritizationFeeLamports: an integer, or "auto" (a fixed devnet default)."""
    if value is None or value == "auto":
        return DEFAULT_PRIORITY_LAMPORTS
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise VenueError("INVALID_REQUEST", "prioritizationFeeLamports must be an integer or auto")
    lamports = _integer(str(value), "prioritizationFeeLamports")
    if lamports < 0:
        raise VenueError("INVALID_REQUEST", "prioritizationFeeLamports must be >= 0")
    return lamports
