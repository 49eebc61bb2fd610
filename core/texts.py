"""The texts (HTML) and button payloads people see, shared by the workflows that send them and
the bot that reads the buttons back. Pure functions: every user-supplied string is escaped here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from decimal import Decimal
from html import escape
from typing import NamedTuple

from core.amounts import from_base_units, plain
from core.models import (
    Button,
    Fill,
    PreparedSwap,
    PreparedWithdrawal,
    ReconcileReport,
    Subscription,
    UsdQuote,
    WalletEvent,
)

TxUrl = Callable[[str], str]  # the event's chain's explorer link for a transaction id
DIGEST_AFTER = 3  # more events than this for one chat in one check become a single digest
DIGEST_LINES = 10


def _amount(event: WalletEvent) -> str:
    return f"{plain(event.display_amount)} {escape(event.symbol)}"


def _usd(event: WalletEvent) -> str:
    return usd_value(event.usd, event.symbol)


def usd_value(quote: UsdQuote | None, symbol: str) -> str:
    """' ≈ $1,234.56 (SOL $150.12, 8 s old)', or nothing without a price."""
    if quote is None:
        return ""
    return (
        f" ≈ {usd(Decimal(quote.value))} ({escape(symbol)} {usd(Decimal(quote.price))}, "
        f"{quote.age_s} s old)"
    )


def _short(address: str | None) -> str:
    if not address:
        return "unknown"
    return escape(address if len(address) <= 14 else f"{address[:6]}…{address[-6:]}")


def _swap(event: WalletEvent) -> str:
    """The received side of a swap, with what was given for it."""
    gave = event.gave
    assert gave is not None
    sold = from_base_units(gave.amount, gave.decimals)
    return swap_text(sold, gave.symbol, event.display_amount, event.symbol)


def swap_text(sold: Decimal, sold_symbol: str, bought: Decimal, bought_symbol: str) -> str:
    """'1.5 SOL → 224.1 USDC at 149.4 USDC/SOL' (HTML-escaped)."""
    price = plain((bought / sold).quantize(Decimal("1e-6"))) if sold else "?"
    given, got = escape(sold_symbol), escape(bought_symbol)
    return f"{plain(sold)} {given} → {plain(bought)} {got} at {price} {got}/{given}"


def _shown(sub: Subscription, events: list[WalletEvent]) -> list[WalletEvent]:
    """What a chat sees: its filters applied, a swap once (on its received side)."""
    return [e for e in events if sub.wants(e) and not e.in_swap]


def _line(event: WalletEvent, tx_url: TxUrl) -> str:
    if event.gave is not None:
        link = f'<a href="{escape(tx_url(event.tx_id))}">tx</a>'
        return f"🔄 Swapped {_swap(event)}{_usd(event)} {link}"
    arrow, word = ("⬇️", "from") if event.direction == "in" else ("⬆️", "to")
    return (
        f"{arrow} <b>{'+' if event.direction == 'in' else '-'}{_amount(event)}</b>{_usd(event)} "
        f"{word} "
        f"<code>{_short(event.counterparty)}</code> "
        f'<a href="{escape(tx_url(event.tx_id))}">tx</a>'
    )


def _title(sub: Subscription, event: WalletEvent) -> str:
    name = escape(sub.label) if sub.label else _short(event.wallet)
    return f"<b>{name}</b> · {event.chain}"


def event_message(sub: Subscription, event: WalletEvent, tx_url: TxUrl) -> str:
    if event.gave is not None:
        return (
            f"{_title(sub, event)}\n"
            f"Swapped {_swap(event)}{_usd(event)}\n"
            f"Wallet: <code>{escape(event.wallet)}</code>\n"
            f'<a href="{escape(tx_url(event.tx_id))}">View transaction</a>'
        )
    incoming = event.direction == "in"
    counterparty = escape(event.counterparty or "unknown")
    return (
        f"{_title(sub, event)}\n"
        f"{'Received' if incoming else 'Sent'} {_amount(event)}{_usd(event)}\n"
        f"{'From' if incoming else 'To'}: <code>{counterparty}</code>\n"
        f"Wallet: <code>{escape(event.wallet)}</code>\n"
        f'<a href="{escape(tx_url(event.tx_id))}">View transaction</a>'
    )


PENDING_MARK = "⏳ <b>Pending</b>: seen on chain, not final yet"
FINAL_MARK = "✅ <b>Final</b>"
DROPPED_MARK = "❌ <b>Dropped</b>: never became final, nothing moved"


def event_key(sub: Subscription, event: WalletEvent) -> str:
    """The dedupe key of one event's message to one chat (early or final, it is one message)."""
    return f"{sub.chat_id}:{event.key}"


def early_messages_for(
    sub: Subscription, events: list[WalletEvent], tx_url: TxUrl
) -> list[tuple[WalletEvent, str, str]]:
    """(event, dedupe key, text) of the early "pending" messages for one chat: none for a
    final-only chat, and none for a burst that would become a digest at finality (a digest
    cannot be edited event by event)."""
    wanted = _shown(sub, events)
    if sub.final_only or len(wanted) > DIGEST_AFTER:
        return []
    return [
        (e, event_key(sub, e), f"{PENDING_MARK}\n{event_message(sub, e, tx_url)}") for e in wanted
    ]


def concluded_message(sub: Subscription, event: WalletEvent, tx_url: TxUrl, outcome: str) -> str:
    """The text an early message is edited to: final, or dropped."""
    mark = FINAL_MARK if outcome == "final" else DROPPED_MARK
    return f"{mark}\n{event_message(sub, event, tx_url)}"


def digest_message(sub: Subscription, events: list[WalletEvent], tx_url: TxUrl) -> str:
    lines = [_line(e, tx_url) for e in events[:DIGEST_LINES]]
    more = len(events) - DIGEST_LINES
    if more > 0:
        lines.append(f"…and {more} more")
    return f"{_title(sub, events[0])}\n{len(events)} transfers:\n" + "\n".join(lines)


def messages_for(
    sub: Subscription, events: list[WalletEvent], tx_url: TxUrl
) -> list[tuple[str, str]]:
    """(dedupe key, text) pairs for one chat: one message per event, or one digest."""
    wanted = _shown(sub, events)
    if len(wanted) <= DIGEST_AFTER:
        return [(event_key(sub, e), event_message(sub, e, tx_url)) for e in wanted]
    # Named by every event it covers: two different digests never share a key (one sharing
    # only its first event and its size would be swallowed as a "repeat").
    covered = hashlib.sha256("\n".join(e.key for e in wanted).encode()).hexdigest()[:16]
    key = f"{sub.chat_id}:digest:{wanted[0].key}:{len(wanted)}:{covered}"
    return [(key, digest_message(sub, wanted, tx_url))]


# ---- withdrawals ------------------------------------------------------------------------------

# Approval buttons carry `wd:<decision>:<request id>`; the bot parses them with this pattern.
# Telegram allows 64 bytes of callback data: a request id too long for that is carried as
# `#` and the first 16 hex digits of its SHA-256 (`request_ref`), which the bot looks up among
# the withdrawals awaiting approval. `#` never occurs in a request id.
DECISION_BUTTON = re.compile(r"^wd:(approve|reject):(.+)$")
CALLBACK_DATA_LIMIT = 64  # bytes


def request_ref(request_id: str) -> str:
    """The short stand-in for a long request id in button data: `#<16 hex digits>`."""
    return "#" + hashlib.sha256(request_id.encode()).hexdigest()[:16]


def is_request_ref(value: str) -> bool:
    return len(value) == 17 and value[0] == "#"


def decision_button(decision: str, request_id: str) -> str:
    data = f"wd:{decision}:{request_id}"
    if len(data.encode()) <= CALLBACK_DATA_LIMIT:
        return data  # short ids as ever: buttons already sent keep working
    return f"wd:{decision}:{request_ref(request_id)}"


def parse_decision_button(data: str) -> tuple[str, str] | None:
    """(decision, request id) of an approval button's data, or None if it is not one. For a
    long id the second item is its `request_ref` (`is_request_ref`): the caller looks it up."""
    found = DECISION_BUTTON.match(data)
    return (found.group(1), found.group(2)) if found else None


def approval_request(
    request_id: str, chain: str, requested_by: str, p: PreparedWithdrawal
) -> tuple[str, list[list[Button]]]:
    """The approvers' message and its Approve / Reject buttons."""
    text = (
        f"<b>Withdrawal needs approval</b>\n"
        f"{_esc(request_id)}: {plain(from_base_units(p.amount, p.decimals))} "
        f"{_esc(p.symbol)}{usd_value(p.usd, p.symbol)} on {chain}\nTo: <code>{_esc(p.to)}</code>\n"
        f"Requested by {_esc(requested_by)}"
    )
    buttons = [
        [
            Button(text="Approve", callback_data=decision_button("approve", request_id)),
            Button(text="Reject", callback_data=decision_button("reject", request_id)),
        ]
    ]
    return text, buttons


def withdrawal_outcome(
    request_id: str,
    state: str,
    reason: str | None,
    tx_id: str | None,
    prepared: PreparedWithdrawal | None = None,
    kind: str = "Withdrawal",
) -> str:
    """The requester's message once a withdrawal (or a sweep, `kind`) is final, with its USD
    value if priced."""
    detail = f": {_esc(reason)}" if reason and state != "confirmed" else ""
    tx = f"\nTx: <code>{_esc(tx_id)}</code>" if tx_id else ""
    return f"{kind} {_esc(request_id)} <b>{state}</b>{detail}{_moved(prepared)}{tx}"


def trade_outcome(
    request_id: str,
    state: str,
    reason: str | None,
    tx_id: str | None,
    fill: str | None,
    prepared: PreparedWithdrawal | None = None,
) -> str:
    """The requester's message once a trade is final; `fill` (`fill_line`) says what it moved."""
    detail = f": {_esc(reason)}" if reason and state != "confirmed" else ""
    moved = f"\n{fill}" if fill else ""  # fill_line's HTML
    tx = f"\nTx: <code>{_esc(tx_id)}</code>" if tx_id else ""
    return f"Trade {_esc(request_id)} <b>{state}</b>{detail}{_moved(prepared)}{moved}{tx}"


def reconcile_report(report: ReconcileReport) -> str:
    """The operators' message when deposit addresses differ from the ledger."""
    lines = [
        f"⚖️ <b>Reconcile {_esc(report.chain)}</b>: {len(report.differences)} difference(s) "
        f"in {report.checked} holdings"
    ]
    for d in report.differences[:20]:
        expected = plain(from_base_units(d.expected, d.decimals))
        actual = plain(from_base_units(d.actual, d.decimals))
        lines.append(
            f"<code>{_esc(d.address)}</code> ({_esc(d.customer)}): {actual} {_esc(d.symbol)} "
            f"on chain, {expected} by the ledger"
        )
    return "\n".join(lines)


def _moved(p: PreparedWithdrawal | None) -> str:
    """'\n12.5 SOL ≈ $1,875.00 (…)' when the move was priced, else nothing."""
    if p is None or p.usd is None:
        return ""
    amount = plain(from_base_units(p.amount, p.decimals))
    return f"\n{amount} {_esc(p.symbol)}{usd_value(p.usd, p.symbol)}"


def fill_line(fill: Fill, symbol: str, decimals: int, swap: PreparedSwap) -> str:
    """'Swapped 1.5 SOL → 224.1 USDC at 149.4 USDC/SOL'."""
    sold = from_base_units(fill.input_amount, decimals)
    bought = from_base_units(fill.output_amount, swap.output_decimals)
    return f"Swapped {swap_text(sold, symbol, bought, swap.output_symbol)}"


class TradeOutcome(NamedTuple):
    """How a follower's trade ended, for its message."""

    trade_id: str
    status: str
    tx_url: str | None  # the explorer link of the trade sent
    reason: str | None

    def lines(self) -> tuple[str, str]:
        """(the status with its reason, the link to the trade or why there is none)."""
        why = f": {_esc(self.reason)}" if self.reason and self.status != "confirmed" else ""
        yours = (
            f'<a href="{escape(self.tx_url)}">your trade</a>' if self.tx_url else "no trade sent"
        )
        return f"<b>{escape(self.status)}</b>{why}", yours


def copy_message(leader: str, leader_tx: str, outcome: TradeOutcome) -> str:
    """The follower's message about one copied trade, with both explorer links."""
    status, yours = outcome.lines()
    return (
        f"🪞 Copied <code>{_short(leader)}</code>: {status}\n"
        f'<a href="{escape(leader_tx)}">leader\'s trade</a> · {yours}\n'
        f"<code>{escape(outcome.trade_id)}</code>"
    )


def exit_message(rule: str, symbol: str, price: Decimal, outcome: TradeOutcome) -> str:
    """The follower's message about a take-profit or stop-loss exit of a copied position."""
    status, yours = outcome.lines()
    return (
        f"🎯 {escape(rule.capitalize())} on {escape(symbol)} at {usd(price)}: {status}\n"
        f"{yours}\n<code>{escape(outcome.trade_id)}</code>"
    )


def _esc(text: str | None) -> str:
    return escape(text or "")


def usd(value: Decimal) -> str:
    """'$1,234.56'; a price under a dollar keeps its significant digits ('$0.00001234')."""
    if abs(value) >= 1:
        return f"${value.quantize(Decimal('0.01')):,}"
    return f"${plain(value.quantize(Decimal('1e-10')).normalize())}"


def change_pct(now: Decimal, then: Decimal) -> str:
    """'+3.41%' / '-10.00%': the change from `then` to `now`."""
    if then <= 0:
        return "?"
    change = ((now - then) / then * 100).quantize(Decimal("0.01"))
    return f"{'+' if change >= 0 else ''}{change}%"


def alert_fired(
    description: str, price: Decimal, set_price: Decimal, reference: Decimal | None, chart: str
) -> str:
    """The message of a fired alert: what it was, the price, the change, a chart link."""
    moved = (
        f"{change_pct(price, reference)} within the window"
        if reference is not None
        else f"{change_pct(price, set_price)} since the alert was set"
    )
    return (
        f"🔔 <b>{escape(description)}</b>\n"
        f"Now {usd(price)} ({moved})\n"
        f'<a href="{escape(chart)}">chart</a>'
    )
