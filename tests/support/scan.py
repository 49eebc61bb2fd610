"""Searching what Temporal, logs and traces hold for secrets: every string, with each base64
payload decoded, so that a secret inside an encoded payload is found too."""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any

import base58


def key_forms(secret: bytes) -> set[str]:
    """The ways a key could be spelled in a payload."""
    return {
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base58.b58encode(secret).decode(),
    }


def strings(node: Any) -> list[str]:
    """Every string in the history, plus each base64 payload decoded."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                with contextlib.suppress(binascii.Error, ValueError):
                    found.append(base64.b64decode(value, validate=True).decode(errors="replace"))
            found.extend(strings(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(strings(item))
    elif isinstance(node, str):
        found.append(node)
    return found
