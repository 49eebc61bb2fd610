"""TRON knowledge: addresses, the token list, and reading TRX transfers and TRC20 Transfer
events out of node and TronGrid replies. Pure: the HTTP calls live in `activities/tron/`."""

from __future__ import annotations

import hashlib
from typing import Any

import base58
from tronpy.keys import PrivateKey
from tronpy.proto.transaction import calculate_txid_from_raw_data

from chains import hd
from chains.base import ChainEnv
from chains.tron import resources
from core.assets import Asset, TokenList, parse_tokens
from core.errors import InvalidInput
from core.models import WalletEvent

NAME = "tron"
# A head-block transaction on a dropped fork could land again until it expires (60 s by
# default, 20 blocks of 3 s); 30 blocks is past that.
EARLY_DROP_BLOCKS = 30
ENV = ChainEnv(
    rpc_url="TRON_API_URL",
    tokens="TRON_TOKENS",
    key="WALLETFLOW_TRON_KEY",
    hot_wallet="WALLETFLOW_TRON_HOT_WALLET",
    activities_per_second="TRON_ACTIVITIES_PER_SECOND",
    devnet_port="WALLETFLOW_TRON_PORT",
)
NODE_LABEL = "TRON API"  # how the dev stack names its node
DEVNET_URL_KEY = "api_url"  # the node URL's key in devnet.json's tron section
NATIVE = Asset(symbol="TRX", decimals=6, id="TRX")
EXPLORER = "https://tronscan.org/#"
# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

# BIP-44, coin type 195, account 0, external chain: `i` is the customer's.
DEPOSIT_PATH = "m/44'/195'/0'/0/{index}"


def _compressed_public(secret: bytes) -> bytes:
    point = PrivateKey(secret).public_key.to_bytes()  # x || y, 64 bytes
    return bytes([2 | point[-1] & 1]) + point[:32]


def deposit_key(seed: bytes, index: int) -> tuple[str, str]:
    """Deposit address `index` below `seed`: (address, its key-store secret, hex)."""
    steps = hd.path(DEPOSIT_PATH.format(index=index))
    secret = hd.secp256k1_key(seed, steps, _compressed_public)
    return PrivateKey(secret).public_key.to_base58check_address(), secret.hex()


def normalize_address(address: str) -> str:
    """A base58check T-address (hex 41... accepted too), or `InvalidInput` saying why not."""
    text = address.strip()
    if len(text) == 42 and text[:2].lower() == "41":
        try:
            return hex_to_base58(text)
        except ValueError:
            raise InvalidInput(f"{text!r} is not a TRON address: bad hex") from None
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a TRON address: not base58") from None
    if len(raw) != 25:
        hint = " (that looks like a Solana address)" if len(raw) == 32 else ""
        raise InvalidInput(
            f"{text!r} is not a TRON address: decodes to {len(raw)} bytes, expected 25{hint}"
        )
    body, checksum = raw[:21], raw[21:]
    if hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] != checksum:
        raise InvalidInput(f"{text!r} is not a TRON address: checksum mismatch (a typo?)")
    if body[0] != 0x41:
        raise InvalidInput(f"{text!r} is not a TRON mainnet address: prefix byte {body[0]:#x}")
    return text


def hex_to_base58(hex_address: str) -> str:
    """'41...' (21 bytes) or a 20-byte EVM-style hex to a T-address."""
    raw = bytes.fromhex(hex_address[2:] if hex_address.startswith("0x") else hex_address)
    if len(raw) == 20:
        raw = b"\x41" + raw
    if len(raw) != 21:
        raise ValueError(f"not a TRON hex address: {hex_address}")
    return base58.b58encode_check(raw).decode()


def base58_to_hex(address: str) -> str:
    return base58.b58decode_check(address).hex()


def tx_url(tx_id: str) -> str:
    return f"{EXPLORER}/transaction/{tx_id}"


def address_url(address: str) -> str:
    return f"{EXPLORER}/address/{address}"


def tokens_from(text: str) -> TokenList:
    """TRON_TOKENS, e.g. 'USDT:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t:6'."""
    listed = parse_tokens(text, NATIVE)
    for t in listed.tokens:
        normalize_address(t.id)
    return listed


def devnet_tokens(devnet: dict[str, Any]) -> str:
    """TRON_TOKENS for the devnet's TRC20 token (devnet.json's tron section)."""
    return f"{devnet['trc20_symbol']}:{devnet['trc20_contract']}:{devnet['decimals']}"


def swap_id(asset: Asset) -> str:
    """How a swap API would name the asset (TRON has no swap venue here)."""
    return asset.id


COINGECKO_COIN = "tron"  # CoinGecko's id of TRX, and of the TRON platform for TRC20 tokens


def price_ids(asset: Asset) -> dict[str, str]:
    """CoinGecko only: Jupiter does not price TRON."""
    return {"coingecko": COINGECKO_COIN if asset.native else f"{COINGECKO_COIN}:{asset.id}"}


def chart_url(asset: Asset) -> str:
    if asset.native:
        return f"https://www.coingecko.com/en/coins/{COINGECKO_COIN}"
    return f"https://dexscreener.com/tron/{asset.id}"


def devnet_secret(account: dict[str, Any]) -> str:
    """A devnet.json funded account's private key, hex as WALLETFLOW_TRON_KEY takes it."""
    return str(account["private_key"])


def _any_to_base58(address: str) -> str:
    return address if address.startswith("T") else hex_to_base58(address)


def trx_transfer(item: dict[str, Any], wallet: str) -> WalletEvent | None:
    """The wallet's TRX movement in a TronGrid `/v1/accounts/{a}/transactions` item, if any."""
    ret = item.get("ret") or [{}]
    if ret[0].get("contractRet", "SUCCESS") != "SUCCESS":
        return None
    contracts = item.get("raw_data", {}).get("contract") or []
    if not contracts or contracts[0].get("type") != "TransferContract":
        return None
    value = contracts[0]["parameter"]["value"]
    amount = int(value.get("amount", 0))
    sender = _any_to_base58(value["owner_address"])
    receiver = _any_to_base58(value["to_address"])
    if amount <= 0 or wallet not in (sender, receiver) or sender == receiver:
        return None
    incoming = receiver == wallet
    return WalletEvent(
        chain=NAME,
        wallet=wallet,
        tx_id=item["txID"],
        index=0,
        direction="in" if incoming else "out",
        asset=NATIVE.id,
        symbol=NATIVE.symbol,
        decimals=NATIVE.decimals,
        amount=amount,
        counterparty=sender if incoming else receiver,
        block=int(item.get("blockNumber", 0)),
        block_time=int(item["block_timestamp"]) // 1000,
    )


def trc20_transfers(info: dict[str, Any], wallet: str, tokens: TokenList) -> list[WalletEvent]:
    """The wallet's TRC20 movements in a `gettransactioninfobyid` receipt.

    Only Transfer events of a successful receipt count: call data says what was asked for,
    the event log says what happened (and catches transfers made by other contracts).
    """
    if (
        info.get("receipt", {}).get("result", "SUCCESS") != "SUCCESS"
        or info.get("result") == "FAILED"
    ):
        return []
    events = []
    for position, log in enumerate(info.get("log") or []):
        topics = log.get("topics") or []
        if len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC:
            continue
        asset = tokens.by_id(_any_to_base58(log["address"]))
        if asset is None:
            continue  # a look-alike token: spam
        sender = hex_to_base58(topics[1][-40:])
        receiver = hex_to_base58(topics[2][-40:])
        amount = int(log.get("data") or "0", 16)
        if amount <= 0 or wallet not in (sender, receiver) or sender == receiver:
            continue
        incoming = receiver == wallet
        events.append(
            WalletEvent(
                chain=NAME,
                wallet=wallet,
                tx_id=info["id"],
                index=1 + position,
                direction="in" if incoming else "out",
                asset=asset.id,
                symbol=asset.symbol,
                decimals=asset.decimals,
                amount=amount,
                counterparty=sender if incoming else receiver,
                block=int(info.get("blockNumber", 0)),
                block_time=int(info.get("blockTimeStamp", 0)) // 1000 or None,
            )
        )
    return events


def addresses_in_block(block: dict[str, Any], infos: list[dict[str, Any]]) -> set[str]:
    """Every address whose TRX or TRC20 balance a block may have changed: senders and receivers
    of transfers, plus both sides of every Transfer event in the block's receipts."""
    found: set[str] = set()
    for tx in block.get("transactions") or []:
        for contract in tx.get("raw_data", {}).get("contract") or []:
            value = contract.get("parameter", {}).get("value", {})
            for key in ("owner_address", "to_address"):
                if value.get(key):
                    found.add(_any_to_base58(value[key]))
    for info in infos:
        for log in info.get("log") or []:
            topics = log.get("topics") or []
            if len(topics) == 3 and topics[0].lower() == TRANSFER_TOPIC:
                found.add(hex_to_base58(topics[1][-40:]))
                found.add(hex_to_base58(topics[2][-40:]))
    return found


# ---- building calls (signing happens in the signing activity, with the key store) ------------

TRANSFER_SELECTOR = "transfer(address,uint256)"
BALANCE_OF_SELECTOR = "balanceOf(address)"


def abi_address(address: str) -> str:
    """A T-address as a 32-byte ABI word (hex, the 20-byte body right-aligned)."""
    return base58_to_hex(address)[2:].rjust(64, "0")


def abi_uint(value: int) -> str:
    return format(value, "x").rjust(64, "0")


TRANSFER_METHOD_ID = "a9059cbb"  # the first 4 bytes of keccak-256(TRANSFER_SELECTOR)


def check_transfer(
    raw_data: dict[str, Any], *, owner: str, to: str, amount: int, token: str | None
) -> None:
    """Raise ValueError unless `raw_data` is exactly the one transfer asked for: `amount` from
    `owner` to `to`, in TRX or (`token`) by that contract's transfer(to, amount) and nothing
    else. A TRC20 call is encoded from the ABI a node serves: what the key signs must not
    depend on it."""
    if token is None:
        kind = "TransferContract"
        want: dict[str, Any] = {"to_address": base58_to_hex(to), "amount": amount}
    else:
        kind = "TriggerSmartContract"
        call = TRANSFER_METHOD_ID + abi_address(to) + abi_uint(amount)
        want = {"contract_address": base58_to_hex(token), "data": call}
    want["owner_address"] = base58_to_hex(owner)
    contracts = raw_data.get("contract", [])
    got = None
    if len(contracts) == 1 and contracts[0].get("type") == kind:
        value = contracts[0]["parameter"]["value"]
        got = {k: v for k, v in value.items() if v not in (0, "", None)}  # proto3: 0 is absent
    if got != want or raw_data.get("data"):
        raise ValueError(
            f"the built transaction is not the transfer asked for ({kind} {got} instead of "
            f"{want}): refusing to sign"
        )


def block_header(block: dict[str, Any], field: str) -> int:
    """A block header's `number` or `timestamp`. Nodes answer in proto3 JSON, which leaves out
    zero values: the genesis block (a young chain's solid head) has neither."""
    return int(block["block_header"]["raw_data"].get(field, 0))


# ---- transaction ids ----------------------------------------------------------------------------


def txid(raw_data: dict[str, Any]) -> str:
    """A transaction's id: sha256 of its `Transaction.raw` protobuf bytes, the hash its
    signatures cover, computed here (tronpy's offline encoder) rather than taken from a node.
    That encoder leaves a memo out: `check_transfer` refuses memos before this is used.
    Resource calls (staking, delegation), which it can't encode, are encoded by ours."""
    if resources.is_resource_call(raw_data):
        return resources.txid(raw_data)
    return str(calculate_txid_from_raw_data(raw_data))


def verified_txid(raw_data: dict[str, Any], claimed: str) -> str:
    """raw_data's own id, provided a node's `claimed` one agrees: the hash we are about to sign
    must be that of the transaction we will broadcast, whatever a node answered."""
    own = txid(raw_data)
    if claimed != own:
        raise ValueError(
            f"node returned txID {claimed} for a transaction whose raw_data hashes to {own}: "
            "refusing to sign"
        )
    return own
