"""Token buckets for Telegram's flood limits (about 1 message/s per chat, 30/s per bot)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; one message costs one token."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self._clock = clock
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1


def acquire(buckets: Iterable[TokenBucket]) -> int:
    """Takes a token from every bucket, or none of them; returns 0 or Telegram's retry_after.

    All-or-nothing, so a message refused by the global limit does not also use up its chat's
    allowance.
    """
    chosen = list(buckets)
    wait = max((bucket.wait_time() for bucket in chosen), default=0.0)
    if wait > 0:
        return max(1, math.ceil(wait))
    for bucket in chosen:
        bucket.take()
    return 0
