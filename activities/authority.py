"""Authority activities: the roster workflows verify signed intents against, and the audit log.

The roster is read from Postgres on the worker side, never taken from a client: a workflow
snapshots it when it starts and reads it again before an approval counts and before it signs,
so a revocation reaches running workflows.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from core import activity_names as act
from core.intents import Roster
from core.models import AuditEntry
from store import authority


class AuthorityActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name=act.LOAD_ROSTER)
    async def load_roster(self) -> Roster:
        return await authority.load_roster(self.pool)

    @activity.defn(name=act.AUDIT)
    async def audit(self, entry: AuditEntry) -> None:
        await authority.audit(self.pool, entry)
