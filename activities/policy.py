"""The hot-wallet policy's one write: a verified freeze, unfreeze, allow or disallow, stored
in Postgres with its audit row. The `policy-{chain}` workflow calls it only after it verified
an admin's signed statement; the cooling-off of new allowlist entries is the worker's."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio import activity

from core import activity_names as act
from core.models import PolicyOutcome, PolicyWrite
from store import policy


class PolicyActivities:
    def __init__(self, pool: asyncpg.Pool, cooling_off: timedelta) -> None:
        self.pool = pool
        self.cooling_off = cooling_off

    @activity.defn(name=act.SET_POLICY)
    async def set_policy(self, write: PolicyWrite) -> PolicyOutcome:
        if write.action in ("freeze", "unfreeze"):
            changed = await policy.set_frozen(
                self.pool, write.chain, write.action == "freeze", write.audit
            )
            return PolicyOutcome(outcome="accepted", changed=changed)
        assert write.address is not None  # the workflow's validator requires it
        if write.action == "allow":
            active_at, added = await policy.allow(
                self.pool, write.chain, write.address, self.cooling_off, write.audit
            )
            return PolicyOutcome(outcome="accepted", changed=added, active_at=active_at)
        changed = await policy.disallow(self.pool, write.chain, write.address, write.audit)
        return PolicyOutcome(outcome="accepted", changed=changed)
