"""Telegram message texts (HTML). Pure functions: every user-supplied string is escaped here."""

from __future__ import annotations

import hashlib
from html import escape

from chains import solana, tron
from chains.base import plain
from workflows.models import Subscription, WalletEvent

# Bound at import time: workflow code must not import chain modules lazily (the sandbox).
TX_URL = {"solana": solana.tx_url, "tron": tron.tx_url}
DIGEST_AFTER = 3  # more events than this for one chat in one check become a single digest
DIGEST_LINES = 10


def _amount(event: WalletEvent) -> str:
    return f"{plain(event.display_amount)} {escape(event.symbol)}"


def _short(address: str | None) -> str:
    if not address:
        return "unknown"
    return escape(address if len(address) <= 14 else f"{address[:6]}…{address[-6:]}")


def _line(event: WalletEvent) -> str:
    arrow, word = ("⬇️", "from") if event.direction == "in" else ("⬆️", "to")
    return (
        f"{arrow} <b>{'+' if event.direction == 'in' else '-'}{_amount(event)}</b> {word} "
        f"<code>{_short(event.counterparty)}</code> "
        f'<a href="{escape(TX_URL[event.chain](event.tx_id))}">tx</a>'
    )


def _title(sub: Subscription, event: WalletEvent) -> str:
    name = escape(sub.label) if sub.label else _short(event.wallet)
    return f"<b>{name}</b> · {event.chain}"


def event_message(sub: Subscription, event: WalletEvent) -> str:
    incoming = event.direction == "in"
    counterparty = escape(event.counterparty or "unknown")
    return (
        f"{_title(sub, event)}\n"
        f"{'Received' if incoming else 'Sent'} {_amount(event)}\n"
        f"{'From' if incoming else 'To'}: <code>{counterparty}</code>\n"
        f"Wallet: <code>{escape(event.wallet)}</code>\n"
        f'<a href="{escape(TX_URL[event.chain](event.tx_id))}">View transaction</a>'
    )


def digest_message(sub: Subscription, events: list[WalletEvent]) -> str:
    lines = [_line(e) for e in events[:DIGEST_LINES]]
    more = len(events) - DIGEST_LINES
    if more > 0:
        lines.append(f"…and {more} more")
    return f"{_title(sub, events[0])}\n{len(events)} transfers:\n" + "\n".join(lines)


def messages_for(sub: Subscription, events: list[WalletEvent]) -> list[tuple[str, str]]:
    """(dedupe key, text) pairs for one chat: one message per event, or one digest."""
    wanted = [e for e in events if sub.wants(e)]
    if len(wanted) <= DIGEST_AFTER:
        return [(f"{sub.chat_id}:{e.key}", event_message(sub, e)) for e in wanted]
    # Named by every event it covers: two different digests never share a key (one sharing
    # only its first event and its size would be swallowed as a "repeat").
    covered = hashlib.sha256("\n".join(e.key for e in wanted).encode()).hexdigest()[:16]
    key = f"{sub.chat_id}:digest:{wanted[0].key}:{len(wanted)}:{covered}"
    return [(key, digest_message(sub, wanted))]
