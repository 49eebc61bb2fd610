"""Addresses, hashes and secp256k1 signatures the way java-tron computes them.

A TRON address is 21 bytes: 0x41 followed by the last 20 bytes of keccak256(uncompressed public
key without its 0x04 prefix). Clients show it either as hex ("41...") or base58check ("T...").
Signatures are 65 bytes r||s||v over sha256(raw_data bytes), which is also the transaction id.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import base58
from coincurve import PrivateKey, PublicKey
from Crypto.Hash import keccak

ADDRESS_PREFIX = 0x41
ADDRESS_SIZE = 21


class AddressError(ValueError):
    """An address that does not decode in the format the caller promised."""


class SignatureError(ValueError):
    """A signature from which no public key can be recovered."""


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@lru_cache(maxsize=65536)
def to_base58(address: bytes) -> str:
    """21-byte address to its T... form; cached because replies repeat the same few addresses."""
    return base58.b58encode_check(address).decode()


@lru_cache(maxsize=65536)
def from_base58(text: str) -> bytes:
    try:
        raw = base58.b58decode_check(text)
    except ValueError as exc:
        raise AddressError(f"invalid base58check address {text!r}") from exc
    if len(raw) != ADDRESS_SIZE or raw[0] != ADDRESS_PREFIX:
        raise AddressError(f"invalid TRON address {text!r}")
    return raw


def from_hex(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)
    except ValueError as exc:
        raise AddressError(f"invalid hex address {text!r}") from exc
    if len(raw) != ADDRESS_SIZE or raw[0] != ADDRESS_PREFIX:
        raise AddressError(f"invalid TRON address {text!r}")
    return raw


def parse_address(value: object, visible: bool) -> bytes:
    """Decode an address the way java-tron does for the given `visible` flag: base58 when true,
    hex when false. Strict on purpose - a client mixing the two fails against a real node too."""
    if not isinstance(value, str) or not value:
        raise AddressError(f"missing or non-string address {value!r}")
    return from_base58(value) if visible else from_hex(value)


def parse_address_any(value: str) -> bytes:
    """TronGrid's /v1 routes accept either format."""
    return from_hex(value) if value[:2] == "41" and len(value) == 42 else from_base58(value)


def format_address(address: bytes, visible: bool) -> str:
    return to_base58(address) if visible else address.hex()


def address_from_public_key(public_key: bytes) -> bytes:
    """`public_key` is the 64-byte uncompressed key without the 0x04 prefix."""
    return bytes([ADDRESS_PREFIX]) + keccak256(public_key)[12:]


@lru_cache(maxsize=1024)
def address_of_private_key(private_key: bytes) -> bytes:
    public = PrivateKey(private_key).public_key.format(compressed=False)[1:]
    return address_from_public_key(public)


def derive_private_key(seed: str, label: str) -> bytes:
    """Deterministic keys so that a devnet started twice with the same seed has the same
    funded accounts (tests and `devnet.json` rely on that)."""
    return sha256(f"{seed}-tron-{label}".encode())


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """65-byte r||s||v signature with v in {0, 1}, as tronpy and TronWeb produce it."""
    return PrivateKey(private_key).sign_recoverable(digest, hasher=None)


def recover_signer(digest: bytes, signature: bytes) -> bytes:
    """Address that produced `signature` over `digest`.

    java-tron accepts v as 0/1 or 27/28 (it adds 27 when below 27), so do we. libsecp256k1
    recovery does not insist on a low s, matching java-tron's ECKey.signatureToKey.
    """
    if len(signature) != 65:
        raise SignatureError(f"Signature size is {len(signature)}")
    header = signature[64]
    if header < 27:
        header += 27
    if header > 34:
        raise SignatureError(f"Header byte out of range: {header}")
    recid = (header - 27) & 3
    try:
        public = PublicKey.from_signature_and_message(
            signature[:64] + bytes([recid]), digest, hasher=None
        ).format(compressed=False)[1:]
    except Exception as exc:  # coincurve raises bare Exception for unrecoverable input
        raise SignatureError(f"can not recover public key: {exc}") from exc
    return address_from_public_key(public)
