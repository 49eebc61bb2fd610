"""Deposit-address derivation against the published test vectors and well-known wallets."""

from __future__ import annotations

import hashlib

import pytest
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

import chains
from chains import hd, solana, tron

SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
# BIP-39's "abandon … about" mnemonic, no passphrase: wallets derive the addresses below.
MNEMONIC_SEED = hashlib.pbkdf2_hmac("sha512", b"abandon " * 11 + b"about", b"mnemonic", 2048)


def test_slip10_ed25519_vector_1() -> None:
    assert hd.ed25519_key(SEED, []).hex() == (
        "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7"
    )
    assert hd.ed25519_key(SEED, hd.path("m/0'")).hex() == (
        "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3"
    )


def test_bip32_secp256k1_vector_1_with_a_normal_step() -> None:
    public = tron._compressed_public
    assert hd.secp256k1_key(SEED, [], public).hex() == (
        "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35"
    )
    assert hd.secp256k1_key(SEED, hd.path("m/0'/1"), public).hex() == (
        "3c6cb8d0f6a264c91ea8b5030fadaa8e538b020f0a387421a12de9319dc93368"
    )


def test_deposit_addresses_match_the_wallets_of_a_known_mnemonic() -> None:
    assert tron.deposit_key(MNEMONIC_SEED, 0)[0] == "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
    assert solana.deposit_key(MNEMONIC_SEED, 0)[0] == "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"


def _owner(chain: str, secret: str) -> str:
    if chain == "solana":
        return str(Keypair.from_base58_string(secret).pubkey())
    return str(PrivateKey(bytes.fromhex(secret)).public_key.to_base58check_address())


@pytest.mark.parametrize("chain", ["solana", "tron"])
def test_each_index_is_its_own_address_and_its_secret_owns_it(chain: str) -> None:
    spec = chains.get(chain)
    keys = [spec.deposit_key(SEED, i) for i in range(20)]
    assert len({address for address, _ in keys}) == 20
    assert spec.deposit_key(SEED, 7) == keys[7]
    assert all(_owner(chain, secret) == address for address, secret in keys)


def test_ed25519_refuses_a_normal_step_and_paths_are_checked() -> None:
    with pytest.raises(ValueError, match="hardened only"):
        hd.ed25519_key(SEED, hd.path("m/0"))
    with pytest.raises(ValueError, match="starts with m/"):
        hd.path("44'/0'")
