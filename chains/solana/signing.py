"""Adding a signature to a transaction someone else built and partly signed.

A request-for-quote swap (Jupiter's RFQ, the devnet venue) arrives already signed by the market
maker. The taker must sign the same message and put the signature at its own index, keeping
the others: `VersionedTransaction(tx.message, [keypair])` rebuilds the signature list with the
taker alone and fails ("not enough signers"). Pure code: the keypair comes from the caller.
"""

from __future__ import annotations

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

from core.errors import InvalidInput


def add_signature(tx: VersionedTransaction, keypair: Keypair) -> VersionedTransaction:
    """`tx` with `keypair`'s signature at its index among the required signers."""
    message = tx.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    if keypair.pubkey() not in signers:
        raise InvalidInput(f"{keypair.pubkey()} is not a signer of this transaction")
    signatures = list(tx.signatures)
    signatures[signers.index(keypair.pubkey())] = keypair.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)
