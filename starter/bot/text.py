"""HTML pieces of the bot's replies. Every user-supplied string goes through `esc`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from html import escape

import chains
from core.amounts import plain

USAGE = {
    "watch": "/watch CHAIN ADDRESS [label] — e.g. /watch solana 9xQe…v3 Treasury",
    "unwatch": "/unwatch CHAIN ADDRESS",
    "pause": "/pause CHAIN ADDRESS",
    "resume": "/resume CHAIN ADDRESS",
    "status": "/status ADDRESS, /status CHAIN ADDRESS or /status REQUEST_ID",
    "withdraw": "/withdraw CHAIN ASSET TO AMOUNT — e.g. /withdraw tron USDT T…xyz 250",
    "cancel": "/cancel REQUEST_ID [reason]",
    "buy": "/buy TOKEN SOL — e.g. /buy USDC 0.5 (spends 0.5 SOL)",
    "sell": "/sell TOKEN AMOUNT — e.g. /sell USDC 100",
    "copy": "/copy LEADER SOL [tp 50[/50]] [sl 20] [trail 15] — copy a wallet's swaps, SOL "
    "per buy; optional exits in % of the entry price",
    "copies": "/copies — your copies, positions and PnL",
    "uncopy": "/uncopy LEADER",
    "alert": "/alert TOKEN CONDITION [repeat] — e.g. /alert SOL > 250, /alert BONK -10% 1h",
    "alerts": "/alerts — this chat's price alerts, with delete buttons",
    "unalert": "/unalert ID",
}
COMMANDS = {
    "start": "What this bot does",
    "help": "Commands you may use",
    "watch": "Watch a wallet: /watch CHAIN ADDRESS [label]",
    "unwatch": "Stop watching: /unwatch CHAIN ADDRESS",
    "pause": "Pause a wallet's notifications: /pause CHAIN ADDRESS",
    "resume": "Resume a paused wallet: /resume CHAIN ADDRESS",
    "list": "Wallets watched in this chat",
    "status": "A wallet or a withdrawal: /status ADDRESS_OR_REQUEST",
    "withdraw": "Operators: /withdraw CHAIN ASSET TO AMOUNT",
    "cancel": "Operators: /cancel REQUEST_ID",
    "buy": "Operators: /buy TOKEN SOL",
    "sell": "Operators: /sell TOKEN AMOUNT",
    "copy": "Operators: /copy LEADER SOL [tp 50[/50]] [sl 20] [trail 15]",
    "copies": "Operators: your copies",
    "uncopy": "Operators: /uncopy LEADER",
    "alert": "Price alert: /alert SOL > 250 or /alert TOKEN -10% 1h",
    "alerts": "Price alerts of this chat",
    "unalert": "Remove a price alert: /unalert ID",
    "workers": "Admins: pollers and backlog per task queue",
    "sweeps": "Admins: the last sweeps of deposits to the hot wallets",
}


def esc(value: object) -> str:
    return escape(str(value))


def code(value: object) -> str:
    return f"<code>{esc(value)}</code>"


def usage(command: str, problem: str | None = None) -> str:
    """A problem (plain text, escaped here) followed by how the command is used."""
    hint = f"Usage: {esc(USAGE[command])}"
    return f"⚠️ {esc(problem)}\n{hint}" if problem else hint


def address_link(chain: str, address: str) -> str:
    url = chains.get(chain).address_url(address)
    return f'<a href="{esc(url)}">{esc(address)}</a>'


def tx_link(chain: str, tx_id: str, text: str = "view transaction") -> str:
    url = chains.get(chain).tx_url(tx_id)
    return f'<a href="{esc(url)}">{esc(text)}</a>'


def short(address: str) -> str:
    return address if len(address) <= 14 else f"{address[:6]}…{address[-6:]}"


def amount(value: str | Decimal, symbol: str) -> str:
    """'12.50', 'SOL' -> '12.5 SOL', escaped."""
    try:
        shown = plain(Decimal(value))
    except InvalidOperation:
        shown = str(value)
    return f"{esc(shown)} {esc(symbol)}"


class BadUsage(Exception):
    """Missing or extra arguments: answered with the problem and the command's usage."""

    def __init__(self, command: str, problem: str | None = None) -> None:
        super().__init__(problem or f"usage of /{command}")
        self.command = command
        self.problem = problem

    def html(self) -> str:
        return usage(self.command, self.problem)
