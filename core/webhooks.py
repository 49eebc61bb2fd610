"""Signed outbound webhooks as pure rules: event types and the patterns that subscribe to them,
stable event ids, the Standard Webhooks signature, the retry schedule, and which URLs an
endpoint may have.

Signature (https://www.standardwebhooks.com): the headers `webhook-id` (the event id, the same
on every retry and replay), `webhook-timestamp` (unix seconds, fresh on every attempt) and
`webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, keyed by the base64-decoded part of a `whsec_…` secret: two
during a secret's rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from core.models import FINAL_STATES, WalletEvent, WithdrawalState
from core.models import WebhookEvent as Emitted

SECRET_PREFIX = "whsec_"
MONEY_MOVE_STATES: tuple[str, ...] = WithdrawalState.__args__  # type: ignore[attr-defined]
# Every type an endpoint may subscribe to; `withdrawal.*`, `wallet.*` and `*` cover families.
EVENT_TYPES: tuple[str, ...] = (
    "wallet.transfer",
    "wallet.swap",
    *(f"withdrawal.{s}" for s in MONEY_MOVE_STATES),
    *(f"trade.{s}" for s in MONEY_MOVE_STATES),
    *(f"sweep.{s}" for s in MONEY_MOVE_STATES),
    "deposit.credited",
    "alert.fired",
)
TEST_TYPE = "webhook.test"  # `walletflow webhooks test`: to one endpoint, whatever it subscribes
assert set(FINAL_STATES) <= set(MONEY_MOVE_STATES)


WalletState = str  # "pending" (seen early), "final", "dropped" (never became final)


def wallet_events(events: list[WalletEvent], state: WalletState) -> list[Emitted]:
    """A monitored wallet's events as webhook events: a swap is one `wallet.swap` (its given
    side is part of it), anything else a `wallet.transfer`; ordered per wallet."""
    found = []
    for e in events:
        if e.in_swap:
            continue
        kind = "wallet.swap" if e.gave is not None else "wallet.transfer"
        data = e.model_dump(mode="json", exclude={"in_swap"}) | {"state": state}
        found.append(
            Emitted(
                event_id=event_id(f"{kind}:{e.key}:{state}"),
                type=kind,
                data=data,
                ordering=f"{e.chain}:{e.wallet}",
                wallet=e.wallet,
            )
        )
    return found


def event_id(key: str) -> str:
    """A stable id from the event's ledger key and state: the same event, the same id."""
    return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def check_patterns(patterns: list[str]) -> list[str]:
    """The patterns, each matching at least one event type, or ValueError naming the first
    that matches none (one line)."""
    cleaned = [p.strip() for p in patterns if p.strip()]
    if not cleaned:
        raise ValueError("give the events to send, e.g. --events wallet.transfer,withdrawal.*")
    for pattern in cleaned:
        if not any(matches(pattern, t) for t in EVENT_TYPES):
            raise ValueError(
                f"unknown event type {pattern!r}: use wallet.transfer, wallet.swap, "
                "withdrawal.<state>, trade.<state>, alert.fired, a family such as withdrawal.*, "
                "or *"
            )
    return cleaned


def matches(pattern: str, event_type: str) -> bool:
    """`*` matches any run of characters (as the fan-out's SQL LIKE does)."""
    if "*" not in pattern:
        return pattern == event_type
    head, *rest = pattern.split("*")
    if not event_type.startswith(head):
        return False
    at = len(head)
    for part in rest[:-1]:
        found = event_type.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return event_type.endswith(rest[-1]) and len(event_type) - len(rest[-1]) >= at


def check_url(url: str, *, allow_insecure: bool) -> str:
    """An endpoint's URL: https, to a public host (a literal private, loopback or link-local
    address is refused), unless `allow_insecure` (the dev flag). ValueError otherwise. The
    caller also resolves the host name and checks each address (`check_address`)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("a webhook URL must not carry credentials")
    if allow_insecure:
        return url.strip()
    if parts.scheme != "https":
        raise ValueError("a webhook URL must be https (WEBHOOKS_ALLOW_INSECURE is for dev only)")
    try:
        check_address(parts.hostname)
    except ValueError as exc:
        raise ValueError(f"{exc} (WEBHOOKS_ALLOW_INSECURE is for dev only)") from None
    return url.strip()


def check_address(host: str) -> None:
    """ValueError when `host` is an IP address outside the public internet."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".local"):
            raise ValueError(f"{host} is a private address") from None
        return  # a name: the caller checks what it resolves to
    if not address.is_global:
        raise ValueError(f"{host} is a private address")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_now: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers, signed by every secret in use (two during rotation)."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_now),
    }


def envelope(event_id_: str, event_type: str, created_at: datetime, data: Any) -> bytes:
    """The body sent: the event's id, type and time, and its data (compact JSON)."""
    return json.dumps(
        {
            "event_id": event_id_,
            "type": event_type,
            "timestamp": created_at.isoformat(),
            "data": data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


# ---- delivery outcomes ------------------------------------------------------------------------

RETRYABLE_4XX = (408, 429)


def permanent(status: int) -> bool:
    """A receiver's answer that no retry will change: a 4xx other than 408 and 429, or a
    redirect (never followed: it could point anywhere, inside the network too)."""
    return (400 <= status < 500 and status not in RETRYABLE_4XX) or 300 <= status < 400


def backoff(attempts: int, base: float = 10, most: float = 3600) -> timedelta:
    """The wait after the n-th failed attempt: base, 2x, 4x, … at most `most` seconds."""
    return timedelta(seconds=min(most, base * 2 ** max(0, attempts - 1)))


class DeliveryState(BaseModel):
    """An endpoint's delivery workflow (`webhooks-{endpoint_id}`)."""

    endpoint_id: str
    rounds: int = 0
    round_seconds: int = 600
    failures: int = 0  # the breaker across rounds: failures in a row, times it opened
    opened: int = 0


class DeliveryResult(BaseModel):
    """One round of deliveries."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    passes: int = 0
    ended: bool = False  # the endpoint is gone: its workflow ends
    failures: int = 0
    opened: int = 0
