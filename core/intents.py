"""Signed intents: who may move or steer money, proven by a signature the workflow checks.

Every command that moves or steers money (withdraw, approve, reject, cancel, resolve, freeze,
unfreeze) is a statement signed with Ed25519 by a principal of the roster: the action, the
workflow it is for, a hash of its parameters, when it was issued, when it expires, and a nonce.
The roster lives on the worker side and is loaded by an activity; nothing a client sends can
add to it. Verification is pure and deterministic, so workflows run it themselves: a person
with full Temporal access but without a principal's key cannot move money.

Ed25519 comes from solders (`Keypair.sign_message`, `Signature.verify`), already a dependency
for Solana: its verify returns a bool, and works inside the workflow sandbox, where a library
that imports a native module at call time would be imported a second time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

Role = Literal["requester", "approver", "admin"]
ROLES: tuple[Role, ...] = ("requester", "approver", "admin")
Action = Literal[
    "withdraw",
    "trade",
    "copy",
    "exits",
    "sweep",
    "approve",
    "reject",
    "cancel",
    "resolve",
    "freeze",
    "unfreeze",
    "allow",
    "disallow",
]
ACTIONS: tuple[Action, ...] = get_args(Action)
# Which role each action needs. Cancel: the requester (their own withdrawal) or an admin.
NEEDS: dict[Action, tuple[Role, ...]] = {
    "withdraw": ("requester",),
    "trade": ("requester",),  # a swap from the trading wallet, under the same policy
    "copy": ("requester",),  # a standing order: copy a leader's swaps within rules
    "exits": ("requester",),  # a standing order: sell a bought position on its exit rules
    # Sweeps move deposits into the hot wallet only (never a destination of the caller's):
    # a standing order per chain for the automatic ones, or one sweep now.
    "sweep": ("admin",),
    "approve": ("approver",),
    "reject": ("approver", "admin"),
    "cancel": ("requester", "admin"),
    "resolve": ("admin",),
    "freeze": ("admin",),
    "unfreeze": ("admin",),
    "allow": ("admin",),  # a destination on the allowlist (after its cooling-off)
    "disallow": ("admin",),
}
DOMAIN = b"walletflow-intent-v1\n"  # a signature over an intent can't be replayed elsewhere
CLOCK_SKEW = 60  # seconds an intent may be issued ahead of the workflow's clock
MAX_LIFETIME = 24 * 3600  # an intent valid for longer is refused: keys leak, intents linger
# Standing orders live longer; revoking the principal still ends them at once.
MAX_LIFETIME_OF: dict[str, int] = {
    "copy": 30 * 24 * 3600,
    "exits": 30 * 24 * 3600,
    "sweep": 90 * 24 * 3600,
}


class Intent(BaseModel):
    """What a principal says. `params` is the hash of the command's parameters
    (`params_hash`), so one signature can't be reused for another amount or destination."""

    model_config = ConfigDict(frozen=True)

    action: Action
    workflow_id: str
    params: str
    issued_at: int  # unix seconds
    expires_at: int
    nonce: str = Field(min_length=16, max_length=64)
    principal: str  # the roster id of the key that signed
    on_behalf_of: str | None = None  # a service principal (the bot) signs for this identity


HEX_KEY = r"^[0-9a-f]{64}$"  # 32 bytes: an Ed25519 public key or seed
HEX_SIGNATURE = r"^[0-9a-f]{128}$"  # 64 bytes


class SignedIntent(BaseModel):
    intent: Intent
    signature: str = Field(pattern=HEX_SIGNATURE)  # Ed25519 over `signing_bytes(intent)`


class Principal(BaseModel):
    """A key of the roster and what it may do. A service principal (the bot) has no roles of
    its own: it signs for the identities in `users`, each with theirs."""

    id: str
    public_key: str = Field(pattern=HEX_KEY)  # the raw 32-byte Ed25519 public key
    roles: list[Role] = []
    users: dict[str, list[Role]] = {}  # e.g. {"tg:1002": ["approver"]}
    revoked: bool = False


class Roster(BaseModel):
    principals: list[Principal] = []

    def get(self, principal_id: str) -> Principal | None:
        return next((p for p in self.principals if p.id == principal_id), None)

    def roles_of(self, principal_id: str, identity: str) -> list[Role]:
        """What `identity` may do through `principal_id`'s key now (none once revoked)."""
        principal = self.get(principal_id)
        if principal is None or principal.revoked:
            return []
        return principal.roles if identity == principal_id else principal.users.get(identity, [])


class Verdict(BaseModel):
    """Accepted (with the identity that acted and its roles) or refused (with the reason)."""

    ok: bool
    identity: str | None = None  # the principal, or the user a service principal signed for
    roles: list[Role] = []
    reason: str | None = None


def canonical(value: object) -> bytes:
    """One byte string per value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def params_hash(params: Mapping[str, object]) -> str:
    return hashlib.sha256(canonical(dict(params))).hexdigest()


def signing_bytes(intent: Intent) -> bytes:
    return DOMAIN + canonical(intent.model_dump(mode="json"))


def _keypair(private_key: bytes) -> Keypair:
    if len(private_key) != 32:
        raise ValueError("an Ed25519 private key (seed) is 32 bytes")
    return Keypair.from_seed(private_key)


def sign(intent: Intent, private_key: bytes) -> SignedIntent:
    """Sign with a raw 32-byte Ed25519 private key (client side: the CLI, the bot)."""
    signature = _keypair(private_key).sign_message(signing_bytes(intent))
    return SignedIntent(intent=intent, signature=bytes(signature).hex())


def public_key_of(private_key: bytes) -> str:
    return bytes(_keypair(private_key).pubkey()).hex()


def signature_valid(public_key: str, signature: str, message: bytes) -> bool:
    """Ed25519. The lengths are checked first: solders panics on a wrong-sized input."""
    try:
        key, sig = bytes.fromhex(public_key), bytes.fromhex(signature)
    except ValueError:
        return False
    if len(key) != 32 or len(sig) != 64:
        return False
    return bool(Signature.from_bytes(sig).verify(Pubkey.from_bytes(key), message))


def _refused(reason: str) -> Verdict:
    return Verdict(ok=False, reason=reason)


def verify(
    signed: SignedIntent,
    roster: Roster,
    *,
    action: Action,
    workflow_id: str,
    params: Mapping[str, object],
    now: int,
    seen_nonces: Collection[str] = (),
) -> Verdict:
    """Check a statement against the roster snapshot: signature, signer, role, action,
    workflow, parameters, lifetime and nonce. Pure: workflows call it deterministically."""
    intent = signed.intent
    principal = roster.get(intent.principal)
    if principal is None:
        return _refused(f"unknown principal {intent.principal!r}")
    if principal.revoked:
        return _refused(f"principal {intent.principal!r} is revoked")
    if not signature_valid(principal.public_key, signed.signature, signing_bytes(intent)):
        return _refused(f"bad signature for principal {intent.principal!r}")
    if intent.action != action:
        return _refused(f"the statement is for {intent.action!r}, not {action!r}")
    if intent.workflow_id != workflow_id:
        return _refused(f"the statement is for {intent.workflow_id}, not {workflow_id}")
    if intent.params != params_hash(params):
        return _refused("the statement's parameters differ from the command's")
    if intent.issued_at > now + CLOCK_SKEW:
        return _refused("the statement is issued in the future")
    if intent.expires_at <= now:
        return _refused("the statement has expired")
    lifetime = MAX_LIFETIME_OF.get(action, MAX_LIFETIME)
    if intent.expires_at - intent.issued_at > lifetime:
        return _refused(f"the statement is valid for more than {lifetime // 3600} hours")
    if intent.nonce in seen_nonces:
        return _refused("the statement was used before (replayed nonce)")
    if intent.on_behalf_of is None:
        identity, roles = principal.id, principal.roles
    elif intent.on_behalf_of in principal.users:
        identity, roles = intent.on_behalf_of, principal.users[intent.on_behalf_of]
    else:
        return _refused(f"{intent.principal!r} may not sign for {intent.on_behalf_of!r}")
    if not set(roles) & set(NEEDS[action]):
        needed = " or ".join(NEEDS[action])
        return _refused(f"{identity} may not {action}: it needs the {needed} role")
    return Verdict(ok=True, identity=identity, roles=list(roles))
