"""One emulated TRC20 token (USDT-like) in place of a TVM.

Calls are ABI-decoded and answered with ABI-encoded results, a Transfer event and energy figures
close to mainnet USDT before the dynamic-energy penalty: ~14,650 energy for a transfer to an
address that already holds the token, ~29,650 when the recipient's balance slot is created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devnet.tron.crypto import ADDRESS_PREFIX, keccak256

ENERGY_TRANSFER_EXISTING = 14_650
ENERGY_TRANSFER_NEW = 29_650
ENERGY_REVERT = 1_950
ENERGY_BALANCE_OF = 935
ENERGY_STRING_VIEW = 1_200
ENERGY_NUMBER_VIEW = 500
ENERGY_UNKNOWN = 420

TRANSFER_TOPIC = keccak256(b"Transfer(address,address,uint256)")
ERROR_SELECTOR = keccak256(b"Error(string)")[:4]
UINT256_MAX = 2**256 - 1


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


SEL_TRANSFER = selector("transfer(address,uint256)")
SEL_BALANCE_OF = selector("balanceOf(address)")
SEL_DECIMALS = selector("decimals()")
SEL_SYMBOL = selector("symbol()")
SEL_NAME = selector("name()")
SEL_TOTAL_SUPPLY = selector("totalSupply()")


def abi_uint(value: int) -> bytes:
    return value.to_bytes(32, "big")


def abi_string(text: str) -> bytes:
    data = text.encode()
    padded = data + bytes(-len(data) % 32)
    return abi_uint(32) + abi_uint(len(data)) + padded


def abi_address(address: bytes) -> bytes:
    """21-byte TRON address to an ABI word: the TVM sees only the 20 bytes after 0x41."""
    return bytes(12) + address[1:]


def word_to_address(word: bytes) -> bytes:
    # Solidity masks an address argument to its low 20 bytes; tronpy may put 0x41 in byte 11.
    return bytes([ADDRESS_PREFIX]) + word[12:32]


def revert_reason(message: str) -> bytes:
    return ERROR_SELECTOR + abi_string(message)


def _view(name: str, outputs: list[dict[str, Any]], inputs: list[dict[str, Any]] | None = None):
    entry: dict[str, Any] = {"constant": True, "name": name, "outputs": outputs}
    if inputs:
        entry["inputs"] = inputs
    entry["stateMutability"] = "View"
    entry["type"] = "Function"
    return entry


# java-tron prints ABI enums capitalised ("Function", "View"); tronpy lower-cases before comparing.
ABI_ENTRIES: list[dict[str, Any]] = [
    _view("name", [{"type": "string"}]),
    _view("symbol", [{"type": "string"}]),
    _view("decimals", [{"type": "uint8"}]),
    _view("totalSupply", [{"type": "uint256"}]),
    _view("balanceOf", [{"type": "uint256"}], [{"name": "who", "type": "address"}]),
    {
        "inputs": [{"name": "_to", "type": "address"}, {"name": "_value", "type": "uint256"}],
        "name": "transfer",
        "outputs": [{"type": "bool"}],
        "stateMutability": "Nonpayable",
        "type": "Function",
    },
    {
        "inputs": [
            {"indexed": True, "name": "from", "type": "address"},
            {"indexed": True, "name": "to", "type": "address"},
            {"name": "value", "type": "uint256"},
        ],
        "name": "Transfer",
        "type": "Event",
    },
]


@dataclass(slots=True)
class CallResult:
    """What a call would do. The chain applies `changes` only when it succeeded within the
    caller's energy limit, which is why nothing here mutates the token."""

    status: str  # "SUCCESS" | "REVERT"
    energy: int
    output: bytes = b""
    logs: list[dict[str, Any]] = field(default_factory=list)
    changes: dict[bytes, int] = field(default_factory=dict)


@dataclass
class Trc20Token:
    address: bytes
    name: str
    symbol: str
    decimals: int
    balances: dict[bytes, int] = field(default_factory=dict)

    @property
    def total_supply(self) -> int:
        return sum(self.balances.values())

    def balance_of(self, holder: bytes) -> int:
        return self.balances.get(holder, 0)

    def call(self, caller: bytes, data: bytes, call_value: int = 0) -> CallResult:
        """Execute `data` from `caller` against the current balances, without mutating them."""
        sel, args = data[:4], data[4:]
        if call_value:  # no function of the token is payable: solc's callvalue check reverts
            return CallResult("REVERT", ENERGY_UNKNOWN)
        if sel == SEL_TRANSFER:
            return self._transfer(caller, args)
        if sel == SEL_BALANCE_OF:
            if len(args) < 32:
                return CallResult("REVERT", ENERGY_UNKNOWN)
            holder = word_to_address(args[:32])
            return CallResult("SUCCESS", ENERGY_BALANCE_OF, abi_uint(self.balance_of(holder)))
        if sel == SEL_DECIMALS:
            return CallResult("SUCCESS", ENERGY_NUMBER_VIEW, abi_uint(self.decimals))
        if sel == SEL_TOTAL_SUPPLY:
            return CallResult("SUCCESS", ENERGY_NUMBER_VIEW, abi_uint(self.total_supply))
        if sel == SEL_SYMBOL:
            return CallResult("SUCCESS", ENERGY_STRING_VIEW, abi_string(self.symbol))
        if sel == SEL_NAME:
            return CallResult("SUCCESS", ENERGY_STRING_VIEW, abi_string(self.name))
        # No fallback function: an unknown selector reverts without data.
        return CallResult("REVERT", ENERGY_UNKNOWN)

    def _transfer(self, sender: bytes, args: bytes) -> CallResult:
        if len(args) < 64:
            return CallResult("REVERT", ENERGY_UNKNOWN)
        to = word_to_address(args[:32])
        value = int.from_bytes(args[32:64], "big")
        if to[1:] == bytes(20):
            return CallResult(
                "REVERT", ENERGY_REVERT, revert_reason("ERC20: transfer to the zero address")
            )
        sender_balance = self.balance_of(sender)
        if value > sender_balance:
            return CallResult(
                "REVERT",
                ENERGY_REVERT,
                revert_reason("ERC20: transfer amount exceeds balance"),
            )
        to_balance = self.balance_of(to)
        # Writing a zero storage slot costs 20,000 instead of 5,000: the "new holder" price.
        energy = (
            ENERGY_TRANSFER_NEW if to_balance == 0 and to != sender else ENERGY_TRANSFER_EXISTING
        )
        changes = {sender: sender_balance - value}
        changes[to] = changes.get(to, to_balance) + value
        log = {
            "address": self.address[1:].hex(),
            "topics": [TRANSFER_TOPIC.hex(), abi_address(sender).hex(), abi_address(to).hex()],
            "data": abi_uint(value).hex(),
        }
        return CallResult("SUCCESS", energy, abi_uint(1), [log], changes)
