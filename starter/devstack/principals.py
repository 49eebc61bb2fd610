"""Devnet-only principals, so that `walletflow dev` works with no setup: an operator key for
the local user (requester and admin), a second key that approves, and the bot's service key
signing for the Telegram stand-in's demo users. A production deployment starts with none."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from core.intents import Principal, Role
from starter.client.signer import Signer, load_key, new_key
from store import authority

# Telegram demo user ids (devnet.json "telegram.demo_users") and what the bot may sign for.
BOT_USERS: dict[str, list[Role]] = {
    "tg:1000": ["admin"],
    "tg:1001": ["requester"],
    "tg:1002": ["approver"],
}
DEV_PRINCIPALS: dict[str, list[Role]] = {
    "operator": ["requester", "admin"],
    "approver": ["approver"],
    "bot": [],
}


def dev_key(keys: Path, name: str) -> Signer:
    path = keys / f"{name}.json"
    return load_key(path) if path.exists() else new_key(path, name)


async def provision(pool: asyncpg.Pool, keys: Path) -> dict[str, Signer]:
    """Create (once) the dev keys under `keys` and list them in the roster."""
    signers = {name: dev_key(keys, name) for name in DEV_PRINCIPALS}
    for name, roles in DEV_PRINCIPALS.items():
        principal = Principal(
            id=name,
            public_key=signers[name].public_key,
            roles=roles,
            users=BOT_USERS if name == "bot" else {},
        )
        await authority.add_principal(pool, principal, by="walletflow dev")
    return signers
