"""The hot-wallet policy from the command line (DESIGN.md "Authority").

- `freeze|unfreeze CHAIN` send an admin's signed statement to `policy-{chain}` (started on first
  use) and print what it answered. While frozen, nothing is reserved, signed or broadcast on
  the chain; withdrawals wait until the unfreeze or their deadline.
- `allowlist add|rm CHAIN ADDRESS` change the chain's allowlist the same way (a new entry
  counts after WITHDRAWAL_ALLOWLIST_COOLING_OFF_HOURS); `allowlist list` prints it.
- `policy show` prints each chain's policy: frozen or not, the rolling limits and what is
  used of them, the approval tiers, the allowlist.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import typer

import chains
from core.amounts import from_base_units
from core.errors import InvalidInput, UserError
from core.models import PolicyAction, PolicyOutcome
from starter.cli.authority import JSON_HELP, database_url, key_option, signer_of, with_pool
from starter.cli.output import emit_json, say, table
from starter.cli.output import out as console
from starter.client.errors import Refused
from starter.runtime.settings import Settings, load_settings

WHEN = "%Y-%m-%d %H:%M:%S %Z"


def _chain(value: str) -> str:
    chain = value.strip().lower()
    try:
        chains.get(chain)
    except InvalidInput as exc:
        raise UserError(str(exc)) from None
    return chain


def _change(
    action: PolicyAction,
    chain: str,
    key: Path | None,
    reason: str | None,
    as_json: bool,
    address: str | None = None,
) -> PolicyOutcome:
    from starter.client import connect
    from starter.client import policy as client_policy

    settings = load_settings()
    chain = _chain(chain)
    by = signer_of(settings, key)
    client_policy.change_of(settings, by, action, chain, reason, address)  # bad input: no send
    doc: dict[str, Any] = {
        "workflow_id": client_policy.workflow_id(settings, chain),
        "action": action,
        "principal": by.principal,
        "address": address,
    }

    async def go() -> PolicyOutcome:
        client = await connect(settings)
        return await client_policy.change(client, settings, chain, action, by, reason, address)

    try:
        outcome = asyncio.run(go())
    except Refused as exc:
        if as_json:
            emit_json(doc | {"outcome": "refused", "reason": str(exc)})
        raise Refused(f"{action} refused: {exc}") from None
    if as_json:
        emit_json(doc | outcome.model_dump(mode="json"))
    return outcome


def register(app: typer.Typer) -> None:
    @app.command()
    def freeze(
        chain: str = typer.Argument(..., help="solana or tron"),
        reason: str | None = typer.Option(None, help="why, for the audit log"),
        key: Path | None = key_option(),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Freeze a chain's hot wallet (admins): from now on nothing is reserved, signed or
        broadcast; versions already signed are held until proven dead."""
        outcome = _change("freeze", chain, key, reason, as_json)
        if not as_json:
            state = "frozen" if outcome.changed else "was frozen already"
            console.print(f"{chain}: {state}", highlight=False)

    @app.command()
    def unfreeze(
        chain: str = typer.Argument(..., help="solana or tron"),
        reason: str | None = typer.Option(None, help="why, for the audit log"),
        key: Path | None = key_option(),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Unfreeze a chain's hot wallet (admins): waiting withdrawals go on."""
        outcome = _change("unfreeze", chain, key, reason, as_json)
        if not as_json:
            state = "unfrozen" if outcome.changed else "was not frozen"
            console.print(f"{chain}: {state}", highlight=False)

    allowlist = typer.Typer(
        help="The destination allowlist (used when WITHDRAWAL_ALLOWLIST=on).",
        no_args_is_help=True,
    )
    app.add_typer(allowlist, name="allowlist")

    @allowlist.command("add")
    def allowlist_add(
        chain: str = typer.Argument(..., help="solana or tron"),
        address: str = typer.Argument(...),
        note: str | None = typer.Option(None, help="whose address this is, for the record"),
        key: Path | None = key_option(),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Allow a destination (admins); it counts after the cooling-off period."""
        outcome = _change("allow", chain, key, note, as_json, address)
        if not as_json:
            when = f"{outcome.active_at:{WHEN}}" if outcome.active_at else "?"
            state = "added" if outcome.changed else "listed already"
            console.print(f"{address}: {state}, allowed from {when}", highlight=False)

    @allowlist.command("rm")
    def allowlist_rm(
        chain: str = typer.Argument(..., help="solana or tron"),
        address: str = typer.Argument(...),
        reason: str | None = typer.Option(None, help="why, for the audit log"),
        key: Path | None = key_option(),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Remove a destination from the allowlist (admins), at once."""
        outcome = _change("disallow", chain, key, reason, as_json, address)
        if not as_json:
            state = "removed" if outcome.changed else "was not listed"
            console.print(f"{address}: {state}", highlight=False)

    @allowlist.command("list")
    def allowlist_list(
        chain: str | None = typer.Argument(None, help="one chain (default: all)"),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """The allowlist: each entry, and from when it counts."""
        from store import policy

        only = None if chain is None else _chain(chain)
        entries = with_pool(load_settings(), lambda pool: policy.allowlist(pool, only))
        if as_json:
            emit_json([e.model_dump(mode="json") for e in entries])
        elif not entries:
            say("the allowlist is empty")
        else:
            table(
                ("chain", "address", "allowed from", "state", "added by", "note"),
                [
                    (
                        e.chain,
                        e.address,
                        f"{e.active_at:{WHEN}}",
                        "active" if e.active else "cooling off",
                        e.added_by,
                        e.note or "",
                    )
                    for e in entries
                ],
            )

    policy_app = typer.Typer(help="The hot-wallet policy.", no_args_is_help=True)
    app.add_typer(policy_app, name="policy")

    @policy_app.command("show")
    def policy_show(
        chain: str | None = typer.Argument(None, help="one chain (default: all)"),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Each chain's policy: frozen or not, rolling limits and their use, approval tiers,
        the allowlist."""
        settings = load_settings()
        names = chains.CHAINS if chain is None else (_chain(chain),)
        database_url(settings)  # one clear line when there is no database to read
        docs = with_pool(settings, lambda pool: _policies(pool, settings, names))
        if as_json:
            emit_json(docs)
            return
        for doc in docs:
            _print_policy(doc)


async def _policies(
    pool: asyncpg.Pool, settings: Settings, names: tuple[str, ...]
) -> list[dict[str, Any]]:
    from store import policy

    enforced, listed = settings.allowlist()
    docs = []
    for name in names:
        state = await policy.chain_policy(pool, name)
        tokens = settings.tokens(name)
        used = await policy.hot_wallet_usage(pool, name)
        hot_limits = settings.amounts("hot_wallet_limits")
        limits = []
        for symbol in tokens.symbols():
            asset = tokens.by_symbol(symbol)
            assert asset is not None
            spent = from_base_units(used.get(asset.id, 0), asset.decimals)
            limits.append(
                {
                    "asset": symbol,
                    "hot_wallet_24h": _text(hot_limits.get(symbol.upper())),
                    "hot_wallet_used_24h": str(spent),
                    "requester_24h": _text(settings.amounts("daily_limits").get(symbol.upper())),
                    "approval_above": _text(
                        settings.amounts("approval_thresholds").get(symbol.upper())
                    ),
                    "tiers": [
                        {"above": str(above), "approvers": count}
                        for above, count in settings.tiers().get(symbol.upper(), [])
                    ],
                }
            )
        docs.append(
            {
                "chain": name,
                "frozen": state.frozen,
                "frozen_reason": state.reason,
                "changed_by": state.changed_by,
                "changed_at": state.changed_at.isoformat() if state.changed_at else None,
                "limits": limits,
                "allowlist": {
                    "enforced": enforced,
                    "cooling_off_hours": settings.allowlist_cooling_off_hours,
                    "configured": sorted(listed),
                    "entries": [
                        e.model_dump(mode="json") for e in await policy.allowlist(pool, name)
                    ],
                },
                "max_versions": settings.max_versions,
                "expiry_quorum": settings.expiry_quorum,
            }
        )
    return docs


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _print_policy(doc: dict[str, Any]) -> None:
    chain = doc["chain"]
    if doc["frozen"]:
        why = f": {doc['frozen_reason']}" if doc["frozen_reason"] else ""
        state = f"FROZEN by {doc['changed_by']} at {doc['changed_at']}{why}"
    else:
        state = "not frozen"
    console.print(f"[bold]{chain}[/bold]: {state}", highlight=False)
    table(
        ("asset", "hot wallet 24h", "used 24h", "per requester 24h", "approval above", "tiers"),
        [
            (
                row["asset"],
                row["hot_wallet_24h"] or "-",
                row["hot_wallet_used_24h"],
                row["requester_24h"] or "-",
                row["approval_above"] or "-",
                ", ".join(f">{t['above']}: {t['approvers']}" for t in row["tiers"]) or "-",
            )
            for row in doc["limits"]
        ],
    )
    allow = doc["allowlist"]
    if not allow["enforced"]:
        console.print("allowlist: off (any destination)", highlight=False)
    else:
        active = sum(1 for e in allow["entries"] if e["active"])
        console.print(
            f"allowlist: on, {active} active of {len(allow['entries'])} entries "
            f"(+{len(allow['configured'])} configured), cooling-off "
            f"{allow['cooling_off_hours']:g}h",
            highlight=False,
        )
    console.print(
        f"re-signing: at most {doc['max_versions']} versions, each proven dead by "
        f"{doc['expiry_quorum']} providers",
        highlight=False,
    )
