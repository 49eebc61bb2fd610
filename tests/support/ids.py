"""Ids nobody else in the session uses: chats, withdrawal request ids. (Per-test task queues
and id suffixes are the `task_queue` and `uid` fixtures of tests/support/fixtures.py.)"""

from __future__ import annotations

import uuid


def chat_id() -> int:
    """A chat nobody else in this session uses."""
    return 10_000_000 + uuid.uuid4().int % 1_000_000_000


def new_request_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
