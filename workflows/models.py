"""The pydantic models that cross workflow and activity boundaries (inputs, outputs, state).

Amounts are integers in base units (lamports, sun, token units) or Decimal strings; never floats.
No model here may carry key material: these values are recorded in workflow history.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Chain = Literal["solana", "tron"]


class Notification(BaseModel):
    """One Telegram message to one chat. `dedupe_key` is unique per chat and event."""

    dedupe_key: str
    chat_id: int
    text: str  # HTML, every user-supplied part already escaped


class NotificationResult(BaseModel):
    status: Literal["sent", "unknown", "failed"]
    message_id: int | None = None
    detail: str | None = None
