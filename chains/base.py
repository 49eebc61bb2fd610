"""What every chain module provides, and the chain-neutral pieces (assets, amounts, errors).

Pure code: no I/O. `chains.solana` and `chains.tron` implement `ChainSpec`; `chains.get(name)`
returns one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Literal, Protocol

Direction = Literal["in", "out"]
# Wide enough for any uint256 amount: the default 28 digits would round large token amounts.
WIDE = Context(prec=100)


class InvalidInput(ValueError):
    """Bad user input (address, amount, asset); the message says what is wrong and why."""


@dataclass(frozen=True)
class Asset:
    """A native coin or a token this deployment knows. Unknown tokens are spam and dropped."""

    symbol: str
    decimals: int
    id: str  # 'SOL' / 'TRX' for the native coin, else the mint or contract address
    program: str | None = None  # Solana token program owning the mint

    @property
    def native(self) -> bool:
        return self.id == self.symbol and self.program is None


@dataclass(frozen=True)
class TokenList:
    """The tokens this deployment reports on one chain. Anything else is spam, however it names
    itself: a token is known by its mint / contract address, never by its symbol alone."""

    native: Asset
    tokens: tuple[Asset, ...] = ()

    def by_id(self, asset_id: str) -> Asset | None:
        return next((t for t in self.tokens if t.id == asset_id), None)

    def by_symbol(self, symbol: str) -> Asset | None:
        """The native coin or a listed token by symbol (or by address), case-insensitive."""
        wanted = symbol.strip().upper()
        if wanted == self.native.symbol:
            return self.native
        return next((t for t in self.tokens if wanted in (t.symbol.upper(), t.id.upper())), None)

    def symbols(self) -> list[str]:
        return [self.native.symbol, *(t.symbol for t in self.tokens)]


def parse_tokens(text: str, native: Asset, programs: dict[str, str] | None = None) -> TokenList:
    """'USDC:<mint>:6,PYUSD:<mint>:6:token2022' -> a TokenList (programs maps the 4th field)."""
    tokens = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        fields = item.split(":")
        if len(fields) not in (3, 4) or not fields[2].isdigit():
            raise InvalidInput(f"token {item!r}: expected SYMBOL:ADDRESS:DECIMALS[:PROGRAM]")
        program = None
        if len(fields) == 4:
            if not programs or fields[3] not in programs:
                raise InvalidInput(f"token {item!r}: unknown program {fields[3]!r}")
            program = programs[fields[3]]
        tokens.append(
            Asset(symbol=fields[0], id=fields[1], decimals=int(fields[2]), program=program)
        )
    return TokenList(native=native, tokens=tuple(tokens))


def to_base_units(amount: str | Decimal, decimals: int) -> int:
    """'1.5' with 6 decimals -> 1_500_000. Refuses <= 0, too many decimals and non-numbers."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise InvalidInput(f"amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise InvalidInput(f"amount {amount!r} is not a number")
    if value <= 0:
        raise InvalidInput(f"amount must be greater than 0, got {amount}")
    scaled = value.scaleb(decimals, context=WIDE)
    if scaled != scaled.to_integral_value(context=WIDE):
        raise InvalidInput(f"amount {amount} has more than {decimals} decimal places")
    return int(scaled)


def from_base_units(amount: int, decimals: int) -> Decimal:
    """Exact: 1_500_000 with 6 decimals -> Decimal('1.500000')."""
    return Decimal(amount).scaleb(-decimals, context=WIDE)


def format_amount(amount: int, asset: Asset) -> str:
    """Human form without trailing zeros: 1500000 USDC (6) -> '1.5 USDC'."""
    return f"{plain(from_base_units(amount, asset.decimals))} {asset.symbol}"


def plain(value: Decimal) -> str:
    """'1.50' -> '1.5', '1E+2' -> '100': a decimal string without exponent or trailing zeros."""
    return format(value.normalize(context=WIDE), "f")


class ChainSpec(Protocol):
    """Pure knowledge of one chain."""

    name: str
    native: Asset

    def normalize_address(self, address: str) -> str:
        """The canonical form of `address`, or `InvalidInput` saying why it is not one."""
        ...

    def tx_url(self, tx_id: str) -> str: ...

    def address_url(self, address: str) -> str: ...
