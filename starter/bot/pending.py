"""Withdrawals shown with Confirm/Cancel and not yet decided, kept in memory by request id.

Only the request id travels in callback_data (64 bytes would not hold an address and an
amount). Losing this store (a bot restart) loses nothing but the button: nothing was started,
and the user sends /withdraw again. The request id is fixed when the summary is shown, so a
double press can never start two withdrawals (the workflow id is the request id).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.models import WithdrawalRequest

TTL_SECONDS = 600.0


@dataclass
class Pending:
    request: WithdrawalRequest
    user_id: int  # only the requester may confirm
    summary: str  # HTML of the confirmation message
    created: float = field(default_factory=time.monotonic)


class PendingWithdrawals:
    def __init__(
        self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._items: dict[str, Pending] = {}

    def add(self, pending: Pending) -> None:
        self._prune()
        pending.created = self.clock()
        self._items[pending.request.request_id] = pending

    def get(self, request_id: str) -> Pending | None:
        self._prune()
        return self._items.get(request_id)

    def take(self, request_id: str) -> Pending | None:
        """Remove and return it: whoever takes it first is the only one to act on it."""
        self._prune()
        return self._items.pop(request_id, None)

    def __len__(self) -> int:
        self._prune()
        return len(self._items)

    def _prune(self) -> None:
        cutoff = self.clock() - self.ttl
        for key in [k for k, p in self._items.items() if p.created < cutoff]:
            del self._items[key]
