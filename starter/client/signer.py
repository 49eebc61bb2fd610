"""The client's side of signed intents: a principal's key, and the statements it signs.

A key file is JSON, `{"principal": ID, "private_key": HEX}`, readable by its owner only
(0600): `walletflow keys new ID` writes one and prints the public key an admin adds to the
roster (`walletflow principals add`). The CLI signs with WALLETFLOW_KEY_FILE, the bot with
WALLETFLOW_BOT_KEY_FILE for the Telegram users the roster lists for it.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.intents import Action, Intent, SignedIntent, params_hash, public_key_of, sign

LIFETIME = 15 * 60  # seconds a statement stays valid: long enough to paste, short enough to die


@dataclass(frozen=True)
class Signer:
    principal: str
    private_key: bytes = field(repr=False)  # never in a log line or a test's failure output
    on_behalf_of: str | None = None

    @property
    def public_key(self) -> str:
        return public_key_of(self.private_key)

    @property
    def identity(self) -> str:
        """Who the workflow will see acting: the principal, or the user it signs for."""
        return self.on_behalf_of or self.principal

    def acting_for(self, user: str) -> Signer:
        """The same service key, signing for `user` (e.g. 'tg:1002')."""
        return Signer(self.principal, self.private_key, on_behalf_of=user)

    def statement(
        self,
        action: Action,
        workflow_id: str,
        params: dict[str, object],
        *,
        lifetime: int = LIFETIME,
    ) -> SignedIntent:
        now = int(time.time())
        intent = Intent(
            action=action,
            workflow_id=workflow_id,
            params=params_hash(params),
            issued_at=now,
            expires_at=now + lifetime,
            nonce=secrets.token_hex(16),
            principal=self.principal,
            on_behalf_of=self.on_behalf_of,
        )
        return sign(intent, self.private_key)


def new_key(path: Path, principal: str) -> Signer:
    """Write a new key for `principal` to `path` (0600); refuses to overwrite one."""
    if path.exists():
        raise UserError(f"{path} exists already: a key is never overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    signer = Signer(principal, secrets.token_bytes(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"principal": principal, "private_key": signer.private_key.hex()}, out)
    return signer


def load_key(path: Path) -> Signer:
    """The key in `path`; one clear error if it is missing, malformed or readable by others."""
    try:
        mode = path.stat().st_mode
        doc = json.loads(path.read_text())
        signer = Signer(str(doc["principal"]), bytes.fromhex(doc["private_key"]))
        signer.public_key  # noqa: B018 - a key of the wrong length fails here, not at signing
    except FileNotFoundError:
        raise UserError(
            f"no signing key at {path}: create one with `walletflow keys new NAME` and have an "
            "admin add it to the roster"
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(
            f"cannot read the signing key {path}: expected walletflow's key file"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(f"signing key {path} is readable by others: chmod 600 it")
    return signer
