"""The payload codec: AES-256-GCM over every payload Temporal stores (inputs, results, signals,
updates, queries, memos, and failures' messages and stack traces).

- A key id travels in each payload's metadata. The ring's first key encrypts; every key in it
  decrypts. Rotation is a config change: put the new key first and keep the old ones while any
  history that uses them is retained.
- A payload without our encoding (written before the codec was turned on, or by a raw client)
  passes through unchanged, so turning the codec on needs no migration.
- The key id is the associated data: a ciphertext cannot be relabelled to another key.
- Search attributes are not payloads of this codec: Temporal indexes them in clear.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from core.errors import UserError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
SETTING = "WALLETFLOW_CODEC_KEYS"
_NONCE = 12
_KEY_ID_FORMAT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class UnknownKey(Exception):
    """A payload encrypted with a key id the ring lacks (its message names only the id)."""


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Keys by id; `active` encrypts."""

    keys: dict[str, bytes]
    active: str

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """`KEY_ID:BASE64,KEY_ID:BASE64`; one clear line (never echoing a key) when malformed."""
        keys: dict[str, bytes] = {}
        for n, item in enumerate(filter(None, (p.strip() for p in re.split(r"[,\n]", text))), 1):
            key_id, _, encoded = item.partition(":")
            key_id = key_id.strip()
            if not _KEY_ID_FORMAT.match(key_id):
                raise UserError(f"invalid setting {SETTING}: key {n} has no KEY_ID: prefix")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != 32:
                raise UserError(
                    f"invalid setting {SETTING}: key {key_id!r} is not 32 bytes of base64"
                )
            if key_id in keys:
                raise UserError(f"invalid setting {SETTING}: key id {key_id!r} appears twice")
            keys[key_id] = key
        if not keys:
            raise UserError(f"invalid setting {SETTING}: no key")
        return cls(keys=keys, active=next(iter(keys)))


def new_key(key_id: str | None = None) -> str:
    """A fresh `KEY_ID:BASE64` entry (the id defaults to today's date)."""
    key_id = key_id or datetime.now(UTC).strftime("k%Y%m%d")
    if not _KEY_ID_FORMAT.match(key_id):
        raise UserError(f"invalid key id {key_id!r}: letters, digits, '.', '_' or '-' (1-64)")
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with the ring's active key; decodes with whichever key a payload names.

    `strict=False` (the codec server) passes through payloads it cannot decrypt instead of
    failing, so a viewer sees the rest of a history."""

    def __init__(self, ring: KeyRing, *, strict: bool = True) -> None:
        self.ring = ring
        self.strict = strict
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.ring.active
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # plaintext: written before the codec, or by a raw client
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            if not self.strict:
                return payload
            raise UnknownKey(f"payload encrypted with key id {key_id!r}, not in {SETTING}")
        try:
            plain = cipher.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], key_id.encode())
        except InvalidTag:
            if not self.strict:
                return payload
            raise UnknownKey(
                f"payload with key id {key_id!r} does not decrypt: the key differs or the "
                "payload was altered"
            ) from None
        return Payload.FromString(plain)


def read_key_ring(value: str) -> KeyRing:
    """The ring from the setting's value: inline, or `file:/path` (owner-only, like the key
    store's file), so that compose can mount it as a secret."""
    if not value.startswith("file:"):
        return KeyRing.parse(value)
    path = Path(value.removeprefix("file:"))
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read {SETTING} file {path}: {exc.__class__.__name__}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(f"{SETTING} file {path} is readable by others: chmod 600 it")
    return KeyRing.parse(text)


def with_codec(converter: DataConverter, ring: KeyRing | None) -> DataConverter:
    """`converter` encrypting with `ring`, failures included; unchanged without a ring."""
    if ring is None:
        return converter
    return dataclasses.replace(
        converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
