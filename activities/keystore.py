"""Where hot-wallet keys come from. Only the signing activities read keys; a key never enters
a workflow input, result, history or log line.

`WALLETFLOW_KEYSTORE`:
- `env` (default): each chain's key variable (`ChainEnv.key`: WALLETFLOW_SOLANA_KEY, a base58
  64-byte keypair; WALLETFLOW_TRON_KEY, hex).
- `file:/path/keys.json`: {"<chain>": "<secret>", ..., "deposit_seed": "<hex>"}; readable by
  its owner only.
Deposit addresses derive from one seed (`deposit_seed`; with `env`, WALLETFLOW_DEPOSIT_SEED),
16 to 64 bytes of hex: no deposit address's own key is stored anywhere.
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

DEPOSIT_SEED = "deposit_seed"  # its name in a key file
DEPOSIT_SEED_ENV = "WALLETFLOW_DEPOSIT_SEED"


class KeyStore(Protocol):
    def secret(self, chain: str) -> str:
        """The hot wallet's secret for `chain`; raises UserError naming what is missing."""
        ...

    def deposit_seed(self) -> bytes:
        """The seed every deposit address derives from; UserError if missing or malformed."""
        ...


def seed_from(text: str, where: str) -> bytes:
    try:
        seed = bytes.fromhex(text.strip())
    except ValueError:
        raise UserError(f"{where}: the deposit seed is not hex") from None
    if not 16 <= len(seed) <= 64:
        raise UserError(f"{where}: the deposit seed must be 16 to 64 bytes, not {len(seed)}")
    return seed


class EnvKeyStore:
    def secret(self, chain: str) -> str:
        name = chains.get(chain).ENV.key
        value = os.environ.get(name, "").strip()
        if not value:
            raise UserError(f"{name} is not set (the {chain} hot-wallet key)")
        return value

    def deposit_seed(self) -> bytes:
        value = os.environ.get(DEPOSIT_SEED_ENV, "").strip()
        if not value:
            raise UserError(f"{DEPOSIT_SEED_ENV} is not set (the seed of deposit addresses)")
        return seed_from(value, DEPOSIT_SEED_ENV)


class FileKeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self, name: str, what: str) -> str:
        try:
            mode = self.path.stat().st_mode
            keys = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read key file {self.path}: {exc.__class__.__name__}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UserError(f"key file {self.path} is readable by others: chmod 600 it")
        value = str(keys.get(name, "")).strip()
        if not value:
            raise UserError(f"key file {self.path} has no {name!r} {what}")
        return value

    def secret(self, chain: str) -> str:
        return self._read(chain, "key")

    def deposit_seed(self) -> bytes:
        return seed_from(self._read(DEPOSIT_SEED, "entry"), f"key file {self.path}")


def open_keystore(spec: str | None) -> KeyStore:
    if not spec or spec == "env":
        return EnvKeyStore()
    if spec.startswith("file:"):
        return FileKeyStore(Path(spec.removeprefix("file:")))
    raise UserError(f"invalid setting WALLETFLOW_KEYSTORE={spec!r}: expected env or file:/path")
