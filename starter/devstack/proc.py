"""Child processes that never outlive their parent (Linux PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, *, new_session: bool = False) -> Callable[[], None]:
    """A `preexec_fn` asking the kernel to send `sig` to the child when its parent dies.

    Even a SIGKILLed `walletflow dev` leaves no server behind. `new_session` also detaches the
    child from the terminal so that Ctrl-C reaches only the parent, which then stops the
    children in order.
    """

    def preexec() -> None:
        if new_session:
            os.setsid()
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec
