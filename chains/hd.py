"""Hierarchical deterministic keys: every deposit address derives from one seed, so no key of
its own is ever stored. Pure code.

- SLIP-0010 for Ed25519 (Solana): hardened steps only, as the curve allows.
- BIP-32 for secp256k1 (TRON): hardened and normal steps.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

HARDENED = 0x80000000
PublicOf = Callable[[bytes], bytes]  # secret key -> its 33-byte compressed public key
# secp256k1's group order: a BIP-32 child key is (parent + tweak) modulo it.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def hardened(index: int) -> int:
    return index | HARDENED


def path(text: str) -> list[int]:
    """`m/44'/501'/3'/0'` as step indices."""
    parts = text.split("/")
    if parts[0] != "m":
        raise ValueError(f"a derivation path starts with m/: {text!r}")
    steps = []
    for part in parts[1:]:
        step = int(part.rstrip("'h"))
        if not 0 <= step < HARDENED:
            raise ValueError(f"derivation step out of range: {part!r}")
        steps.append(hardened(step) if part[-1] in "'h" else step)
    return steps


def _hmac(key: bytes, data: bytes) -> tuple[bytes, bytes]:
    digest = hmac.new(key, data, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def ed25519_key(seed: bytes, steps: list[int]) -> bytes:
    """The 32-byte Ed25519 secret at `steps` below `seed` (SLIP-0010)."""
    key, chain_code = _hmac(b"ed25519 seed", seed)
    for step in steps:
        if step < HARDENED:
            raise ValueError("Ed25519 derivation is hardened only")
        key, chain_code = _hmac(chain_code, b"\x00" + key + step.to_bytes(4, "big"))
    return key


def secp256k1_key(seed: bytes, steps: list[int], public: PublicOf) -> bytes:
    """The 32-byte secp256k1 secret at `steps` below `seed` (BIP-32). `public` gives a
    secret's compressed public key, which normal (unhardened) steps hash."""
    key, chain_code = _hmac(b"Bitcoin seed", seed)
    for step in steps:
        while True:
            data = b"\x00" + key if step >= HARDENED else public(key)
            tweak, next_code = _hmac(chain_code, data + step.to_bytes(4, "big"))
            child = (int.from_bytes(tweak, "big") + int.from_bytes(key, "big")) % SECP256K1_N
            # BIP-32: an invalid child (probability ~2^-127) skips to the next index.
            if int.from_bytes(tweak, "big") < SECP256K1_N and child != 0:
                break
            step += 1
        key, chain_code = child.to_bytes(32, "big"), next_code
    return key
