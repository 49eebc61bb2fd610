"""A roster in memory, for workflow tests with stand-in activities: keys, principals, and the
`load_roster` / `audit` activities that serve them (the real ones are tested against
PostgreSQL in tests/store)."""

from __future__ import annotations

import secrets

from temporalio import activity

from core import activity_names as act
from core.intents import Principal, Role, Roster
from core.models import AuditEntry
from starter.client.signer import Signer


class MemoryRoster:
    def __init__(self, **principals: list[Role]) -> None:
        self.signers = {name: Signer(name, secrets.token_bytes(32)) for name in principals}
        self.roster = Roster(
            principals=[
                Principal(id=name, public_key=self.signers[name].public_key, roles=roles)
                for name, roles in principals.items()
            ]
        )
        self.audited: list[AuditEntry] = []

    @activity.defn(name=act.LOAD_ROSTER)
    async def load_roster(self) -> Roster:
        return self.roster

    @activity.defn(name=act.AUDIT)
    async def audit(self, entry: AuditEntry) -> None:
        self.audited.append(entry)
