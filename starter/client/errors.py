"""Outcomes the CLI reports with their own exit codes (starter/cli/exits.py). Both are
`UserError`s, so every other caller (the bot) still shows them as one line."""

from __future__ import annotations

from core.errors import UserError


class Refused(UserError):
    """Refused by policy: self-approval, a decision on a withdrawal in the wrong state, a
    withdrawal that ended other than confirmed."""


class TimedOut(UserError):
    """Gave up waiting at a deadline; whatever was awaited may still happen."""
