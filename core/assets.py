"""Assets and token lists: what a deployment knows on a chain, chain-neutral."""

from __future__ import annotations

from dataclasses import dataclass

from core.amounts import from_base_units, plain
from core.errors import InvalidInput


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


def format_amount(amount: int, asset: Asset) -> str:
    """Human form without trailing zeros: 1500000 USDC (6) -> '1.5 USDC'."""
    return f"{plain(from_base_units(amount, asset.decimals))} {asset.symbol}"
