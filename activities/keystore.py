"""Where hot-wallet keys come from. Only the signing activities read keys; a key never enters
a workflow input, result, history or log line.

`WALLETFLOW_KEYSTORE`:
- `env` (default): each chain's key variable (`ChainEnv.key`: WALLETFLOW_SOLANA_KEY, a base58
  64-byte keypair; WALLETFLOW_TRON_KEY, hex).
- `file:/path/keys.json`: {"<chain>": "<secret>", ...}; readable by its owner only.
Other backends (KMS, HSM) implement `KeyStore`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Protocol

import chains
from core.errors import UserError


class KeyStore(Protocol):
    def secret(self, chain: str) -> str:
        """The hot wallet's secret for `chain`; raises UserError naming what is missing."""
        ...


class EnvKeyStore:
    def secret(self, chain: str) -> str:
        name = chains.get(chain).ENV.key
        value = os.environ.get(name, "").strip()
        if not value:
            raise UserError(f"{name} is not set (the {chain} hot-wallet key)")
        return value


class FileKeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def secret(self, chain: str) -> str:
        try:
            mode = self.path.stat().st_mode
            keys = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read key file {self.path}: {exc.__class__.__name__}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UserError(f"key file {self.path} is readable by others: chmod 600 it")
        value = str(keys.get(chain, "")).strip()
        if not value:
            raise UserError(f"key file {self.path} has no {chain!r} key")
        return value


def open_keystore(spec: str | None) -> KeyStore:
    if not spec or spec == "env":
        return EnvKeyStore()
    if spec.startswith("file:"):
        return FileKeyStore(Path(spec.removeprefix("file:")))
    raise UserError(f"invalid setting WALLETFLOW_KEYSTORE={spec!r}: expected env or file:/path")
