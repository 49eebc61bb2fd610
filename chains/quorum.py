"""Independent providers: re-signing needs several of them to prove the earlier version dead.

A version is dead once its expiry passed on finalized/solidified data and its id is not on
chain. One provider saying so is one provider's word: a lying or broken node can claim a
finalized height past the expiry and hide the transaction, and a second version would then
be a second transfer. So "expired" needs a quorum of providers, each proving it on its own
reads, and providers are told apart by host:port (two paths or API keys of one host are one
provider). Pure: the senders (activities/<chain>/adapters.py) do the reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

MIN_QUORUM = 2  # below it, "a quorum" would be one provider's word again
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def provider(url: str) -> str:
    """The provider an endpoint URL belongs to: `host:port`, lowercased, with the scheme's
    default port when none is written."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return f"{host}:{port}"


def independent(urls: Iterable[str]) -> list[int]:
    """The positions of the first URL of each provider among `urls`, in order."""
    seen: set[str] = set()
    first: list[int] = []
    for i, url in enumerate(urls):
        key = provider(url)
        if key not in seen:
            seen.add(key)
            first.append(i)
    return first


def check_quorum(quorum: int) -> int:
    """`quorum`, if it is one (at least MIN_QUORUM); else ValueError."""
    if quorum < MIN_QUORUM:
        raise ValueError(f"an expiry quorum needs at least {MIN_QUORUM} providers, not {quorum}")
    return quorum


def proven_dead(proofs: Iterable[bool], quorum: int) -> bool:
    """Whether the providers' proofs (one per independent provider: its own finalized data
    past the expiry without the transaction) reach `quorum`."""
    return sum(1 for p in proofs if p) >= check_quorum(quorum)
