"""Solana knowledge: addresses, the token list, and reading a wallet's balance changes out of a
`getTransaction` result. Pure: the RPC calls live in `activities/solana/`."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import base58
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from spl.token.instructions import (
    close_account,
    create_idempotent_associated_token_account,
    transfer_checked,
)
from spl.token.models import CloseAccountParams, TransferCheckedParams

from chains import hd
from chains.base import ChainEnv
from core.assets import Asset, TokenList, parse_tokens
from core.errors import InvalidInput
from core.models import WalletEvent

NAME = "solana"
# A confirmed transaction on a dropped fork could land again while its blockhash is valid:
# 150 blocks, which skipped slots stretch; 300 slots is past that.
EARLY_DROP_BLOCKS = 300
ENV = ChainEnv(
    rpc_url="SOLANA_RPC_URL",
    tokens="SOLANA_TOKENS",
    key="WALLETFLOW_SOLANA_KEY",
    hot_wallet="WALLETFLOW_SOLANA_HOT_WALLET",
    activities_per_second="SOLANA_ACTIVITIES_PER_SECOND",
    devnet_port="WALLETFLOW_SOLANA_PORT",
    swap_url="SOLANA_SWAP_URL",
)
NODE_LABEL = "Solana RPC"  # how the dev stack names its node
DEVNET_URL_KEY = "rpc_url"  # the node URL's key in devnet.json's solana section
NATIVE = Asset(symbol="SOL", decimals=9, id="SOL")
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
EXPLORER = "https://explorer.solana.com"
SOL_MINT = "So11111111111111111111111111111111111111112"  # how swap APIs name SOL (wrapped SOL)

# SLIP-0010 Ed25519, hardened only (Phantom's and Solflare's layout): `i` is the customer's.
DEPOSIT_PATH = "m/44'/501'/{index}'/0'"


def deposit_key(seed: bytes, index: int) -> tuple[str, str]:
    """Deposit address `index` below `seed`: (address, its key-store secret)."""
    secret = hd.ed25519_key(seed, hd.path(DEPOSIT_PATH.format(index=index)))
    keypair = Keypair.from_seed(secret)
    return str(keypair.pubkey()), str(keypair)


def normalize_address(address: str) -> str:
    """A base58 32-byte public key, or `InvalidInput` saying why not."""
    text = address.strip()
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a Solana address: not base58") from None
    if not text or len(raw) != 32:
        hint = (
            " (that looks like a TRON address)" if text.startswith("T") and len(text) == 34 else ""
        )
        raise InvalidInput(
            f"{text!r} is not a Solana address: decodes to {len(raw)} bytes, expected 32{hint}"
        )
    return str(Pubkey(raw))


def swap_id(asset: Asset) -> str:
    """How swap APIs (Jupiter and the devnet venue) name an asset: SOL by the wrapped-SOL mint."""
    return SOL_MINT if asset.native else asset.id


COINGECKO_COIN = "solana"  # CoinGecko's id of SOL, and of the Solana platform for tokens


def price_ids(asset: Asset) -> dict[str, str]:
    """Jupiter first (it prices every traded mint); CoinGecko confirms SOL and listed tokens."""
    coingecko = COINGECKO_COIN if asset.native else f"{COINGECKO_COIN}:{asset.id}"
    return {"jupiter": swap_id(asset), "coingecko": coingecko}


def chart_url(asset: Asset) -> str:
    if asset.native:
        return f"https://www.coingecko.com/en/coins/{COINGECKO_COIN}"
    return f"https://dexscreener.com/solana/{asset.id}"


def tx_url(tx_id: str) -> str:
    return f"{EXPLORER}/tx/{tx_id}"


def address_url(address: str) -> str:
    return f"{EXPLORER}/address/{address}"


def associated_token_address(owner: str, mint: str, program: str = TOKEN_PROGRAM) -> str:
    """The ATA of `owner` for `mint`: where senders put tokens by default."""
    ata, _ = Pubkey.find_program_address(
        [
            bytes(Pubkey.from_string(owner)),
            bytes(Pubkey.from_string(program)),
            bytes(Pubkey.from_string(mint)),
        ],
        Pubkey.from_string(ATA_PROGRAM),
    )
    return str(ata)


PROGRAMS = {"token": TOKEN_PROGRAM, "token2022": TOKEN_2022_PROGRAM}


def tokens_from(text: str) -> TokenList:
    """SOLANA_TOKENS, e.g. 'USDC:<mint>:6,PYUSD:<mint>:6:token2022'."""
    listed = parse_tokens(text, NATIVE, PROGRAMS)
    for t in listed.tokens:
        normalize_address(t.id)
    return listed


def devnet_tokens(devnet: dict[str, Any]) -> str:
    """SOLANA_TOKENS for the devnet's SPL and Token-2022 mints (devnet.json's solana section)."""
    return (
        f"USDC:{devnet['spl_mint']}:{devnet['decimals']},"
        f"PYUSD:{devnet['token2022_mint']}:{devnet['decimals']}:token2022"
    )


def devnet_secret(account: dict[str, Any]) -> str:
    """A devnet.json funded account's keypair, base58 as WALLETFLOW_SOLANA_KEY takes it."""
    return str(account["secret_key"])


def fingerprint(lamports: int | None, owner: str = "", data: bytes = b"") -> str:
    """A short digest of an account's state (None: no such account); the cheap trigger
    compares these between sweeps."""
    if lamports is None:
        return "none"
    return hashlib.sha256(f"{lamports}|{owner}|".encode() + data).hexdigest()[:16]


@dataclass
class ParsedTx:
    events: list[WalletEvent] = field(default_factory=list)
    token_accounts: list[str] = field(default_factory=list)  # the wallet's, seen in this tx


def _account_keys(tx: dict[str, Any]) -> list[str]:
    keys = tx["transaction"]["message"]["accountKeys"]
    flat = [k["pubkey"] if isinstance(k, dict) else k for k in keys]
    loaded = (tx.get("meta") or {}).get("loadedAddresses") or {}
    if isinstance(keys[0], str):  # jsonParsed already lists loaded addresses in accountKeys
        flat += list(loaded.get("writable", [])) + list(loaded.get("readonly", []))
    return flat


def parse_transaction(tx: dict[str, Any], wallet: str, tokens: TokenList) -> ParsedTx:
    """The wallet's balance changes in one confirmed transaction (a `getTransaction` result).

    Amounts come from pre/post balances, never from instruction data, so every way of moving
    value (system transfer, SPL transfer, CPI from a program) is seen the same way. SOL paid as
    the fee is not a transfer. Failed transactions move nothing but the fee: no events.
    """
    meta = tx.get("meta") or {}
    signature = tx["transaction"]["signatures"][0]
    slot = int(tx["slot"])
    block_time = tx.get("blockTime")
    keys = _account_keys(tx)
    parsed = ParsedTx()

    def event(idx: int, delta: int, asset: Asset, counterparty: str | None) -> WalletEvent:
        return WalletEvent(
            chain=NAME,
            wallet=wallet,
            tx_id=signature,
            index=idx,
            direction="in" if delta > 0 else "out",
            asset=asset.id,
            symbol=asset.symbol,
            decimals=asset.decimals,
            amount=abs(delta),
            counterparty=counterparty,
            block=slot,
            block_time=block_time,
        )

    # Token accounts the wallet owns are worth knowing even in a failed transaction.
    balances: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])  # -> [pre, post]
    owners: dict[int, str] = {}
    for which, entries in (
        (0, meta.get("preTokenBalances") or []),
        (1, meta.get("postTokenBalances") or []),
    ):
        for b in entries:
            i = int(b["accountIndex"])
            balances[(i, b["mint"])][which] = int(b["uiTokenAmount"]["amount"])
            owners[i] = b.get("owner", "")
    parsed.token_accounts = sorted({keys[i] for i, o in owners.items() if o == wallet})
    if meta.get("err") is not None:
        return parsed

    if wallet in keys:
        i = keys.index(wallet)
        delta = int(meta["postBalances"][i]) - int(meta["preBalances"][i])
        if i == 0:
            delta += int(meta.get("fee", 0))  # the fee is a cost, not a transfer
        if delta:
            deltas = [
                int(post) - int(pre)
                for pre, post in zip(meta["preBalances"], meta["postBalances"], strict=True)
            ]
            opposite = [j for j, d in enumerate(deltas) if j != i and d and (d > 0) != (delta > 0)]
            counterparty = keys[max(opposite, key=lambda j: abs(deltas[j]))] if opposite else None
            parsed.events.append(event(0, delta, NATIVE, counterparty))

    by_mint: dict[str, list[tuple[int, int]]] = defaultdict(list)  # mint -> [(accountIndex, delta)]
    for (i, mint), (pre, post) in balances.items():
        if post != pre:
            by_mint[mint].append((i, post - pre))
    for mint, changes in sorted(by_mint.items()):
        asset = tokens.by_id(mint)
        if asset is None:
            continue  # unknown token: spam until someone lists it
        mine = [(i, d) for i, d in changes if owners.get(i) == wallet]
        delta = sum(d for _, d in mine)
        if not delta:
            continue  # zero-value or a move between the wallet's own accounts
        theirs = [(i, d) for i, d in changes if owners.get(i) != wallet and (d > 0) != (delta > 0)]
        counterparty = owners.get(max(theirs, key=lambda c: abs(c[1]))[0]) if theirs else None
        parsed.events.append(event(1 + min(i for i, _ in mine), delta, asset, counterparty))
    return parsed


# ---- building transfers (signing happens in the signing activity, with the key store) --------


def transfer_instructions(sender: str, to: str, asset: Asset, amount: int) -> list[Instruction]:
    """SOL: one system transfer. A token: create the recipient's ATA if missing (idempotent,
    paid by the sender) and `transferChecked`, which also checks mint and decimals."""
    source, dest = Pubkey.from_string(sender), Pubkey.from_string(to)
    if asset.native:
        return [transfer(TransferParams(from_pubkey=source, to_pubkey=dest, lamports=amount))]
    mint, program = Pubkey.from_string(asset.id), Pubkey.from_string(asset.program or TOKEN_PROGRAM)
    return [
        create_idempotent_associated_token_account(source, dest, mint, program),
        transfer_checked(
            TransferCheckedParams(
                program_id=program,
                source=Pubkey.from_string(associated_token_address(sender, asset.id, str(program))),
                mint=mint,
                dest=Pubkey.from_string(associated_token_address(to, asset.id, str(program))),
                owner=source,
                amount=amount,
                decimals=asset.decimals,
            )
        ),
    ]


def sweep_message(
    hot_wallet: str, source: str, asset: Asset, amount: int, close: bool, blockhash: str
) -> Message:
    """A deposit address's `amount` to the hot wallet, which pays the fee (and the rent of its
    own token account if missing): a deposit address that holds only tokens has no SOL. With
    `close`, the emptied token account is closed and its rent goes to the hot wallet too."""
    payer, owner = Pubkey.from_string(hot_wallet), Pubkey.from_string(source)
    if asset.native:
        instructions = [
            transfer(TransferParams(from_pubkey=owner, to_pubkey=payer, lamports=amount))
        ]
    else:
        mint, program = (
            Pubkey.from_string(asset.id),
            Pubkey.from_string(asset.program or TOKEN_PROGRAM),
        )
        account = Pubkey.from_string(associated_token_address(source, asset.id, str(program)))
        instructions = [
            create_idempotent_associated_token_account(payer, payer, mint, program),
            transfer_checked(
                TransferCheckedParams(
                    program_id=program,
                    source=account,
                    mint=mint,
                    dest=Pubkey.from_string(
                        associated_token_address(hot_wallet, asset.id, str(program))
                    ),
                    owner=owner,
                    amount=amount,
                    decimals=asset.decimals,
                )
            ),
        ]
        if close:
            instructions.append(
                close_account(
                    CloseAccountParams(program_id=program, account=account, dest=payer, owner=owner)
                )
            )
    return Message.new_with_blockhash(instructions, payer, Hash.from_string(blockhash))


def transfer_message(sender: str, to: str, asset: Asset, amount: int, blockhash: str) -> Message:
    return Message.new_with_blockhash(
        transfer_instructions(sender, to, asset, amount),
        Pubkey.from_string(sender),
        Hash.from_string(blockhash),
    )
