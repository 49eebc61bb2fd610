"""Signed intents from the command line (DESIGN.md "Authority").

- `approve|reject|cancel REQUEST_ID` and `resolve REQUEST_ID --action ...` sign a decision with
  the CLI's key (WALLETFLOW_KEY_FILE, or `--key PATH`), send it as the workflow update of that
  name and print what the workflow answered: accepted, or refused with its reason (exit 3).
- `intent ACTION REQUEST_ID` prints the same signed decision as one line of JSON, for
  `temporal workflow update execute --input "$(walletflow intent approve <id>)"`.
- `keys new NAME` writes a key file (0600, never overwritten) and prints the line an admin runs.
- `principals add|list|revoke` change the roster in DATABASE_URL directly (an admin-side tool,
  audited as `cli:<os user>`); `audit` prints the append-only audit log.

Who acts is the key's principal: there is no `--by` any more.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg
import typer

from core.errors import UserError
from core.intents import ROLES, Principal, Role
from core.models import Decision, PolicyAction
from starter.cli import exits
from starter.cli.output import emit_json, err, say, table
from starter.cli.output import out as console
from starter.client.errors import Refused
from starter.client.signer import Signer, load_key, new_key
from starter.runtime.settings import Settings, load_settings

T = TypeVar("T")
DecisionAction = Literal["approve", "reject", "cancel", "resolve"]
Resolution = Literal["recheck", "release", "settle"]
DECISIONS: tuple[DecisionAction, ...] = ("approve", "reject", "cancel", "resolve")
POLICY_ACTIONS: tuple[PolicyAction, ...] = ("freeze", "unfreeze", "allow", "disallow")
RESOLUTIONS: tuple[Resolution, ...] = ("recheck", "release", "settle")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")  # a principal id, also a file name
USER = re.compile(r"^([a-z]+:[A-Za-z0-9._@-]+)=(requester|approver|admin)$")
JSON_HELP = "print one JSON document on stdout (prose goes to stderr)"
KEY_HELP = "the signing key file (default: WALLETFLOW_KEY_FILE)"
BY_GONE = (
    "--by is gone: who acts is the signing key's principal (--key PATH or WALLETFLOW_KEY_FILE)"
)


def cli_actor() -> str:
    """Who changes the roster from this shell, as the audit log records it."""
    return f"cli:{getpass.getuser()}"


def no_by(value: str | None) -> None:
    """The removed `--by`: one line and the usage exit code, rather than a silent identity."""
    if value is not None:
        print(f"error: {BY_GONE}", file=sys.stderr)
        raise typer.Exit(exits.USAGE)


def by_option() -> Any:
    return typer.Option(None, "--by", hidden=True, help="removed: the key says who acts")


def key_option() -> Any:
    return typer.Option(None, "--key", help=KEY_HELP, dir_okay=False)


def signer_of(settings: Settings, key: Path | None) -> Signer:
    return load_key(key or settings.signing_key())


def decision_of(
    by: Signer,
    action: DecisionAction,
    request_id: str,
    reason: str | None = None,
    resolution: Resolution | None = None,
    tx_id: str | None = None,
) -> Decision:
    """The signed argument of a decision update (what `intent` prints, `decide` sends);
    `request_id` may be a workflow id (`trade-…`, `withdrawal-…`)."""
    from starter.client.withdrawals import named

    kind, request_id = named(request_id)
    if action == "resolve" and resolution is None:
        raise UserError("resolve needs --action recheck, release or settle")
    if action != "resolve" and (resolution is not None or tx_id is not None):
        raise UserError("--action and --tx-id belong to resolve only")
    # Only `params()` of it is read: what the signature covers.
    unsigned = Decision.model_construct(reason=reason, action=resolution, tx_id=tx_id)  # type: ignore[call-arg]
    return Decision(
        intent=by.statement(action, kind.workflow_id(request_id), unsigned.params()),
        reason=reason,
        action=resolution,
        tx_id=tx_id,
    )


def _decide(
    action: DecisionAction,
    request_id: str,
    key: Path | None,
    reason: str | None,
    as_json: bool,
    resolution: Resolution | None = None,
    tx_id: str | None = None,
) -> None:
    from starter.client import connect, withdrawals

    settings = load_settings()
    by = signer_of(settings, key)
    decision_of(by, action, request_id, reason, resolution, tx_id)  # bad options: nothing sent
    kind, request_id = withdrawals.named(request_id)
    doc: dict[str, Any] = {
        "workflow_id": kind.workflow_id(request_id),
        "action": action,
        "principal": by.principal,
        "outcome": "accepted",
        "reason": None,
    }

    async def go() -> None:
        client = await connect(settings)
        await withdrawals.decide(
            client, request_id, action, by, reason, resolution=resolution, tx_id=tx_id, kind=kind
        )

    try:
        asyncio.run(go())
    except Refused as exc:
        if as_json:
            emit_json(doc | {"outcome": "refused", "reason": str(exc)})
        raise Refused(f"{action} refused: {exc}") from None
    if as_json:
        emit_json(doc)
    else:
        console.print(
            f"{action} accepted: {doc['workflow_id']} (signed by {by.principal})", highlight=False
        )


# ---- the roster in PostgreSQL ---------------------------------------------------------------


def database_url(settings: Settings) -> str:
    """DATABASE_URL; unset, the embedded PostgreSQL of a running `walletflow dev` (devnet.json)."""
    if settings.dsn:
        return settings.dsn
    try:
        doc = json.loads((settings.home / "devnet.json").read_text())
        url = str(doc["postgres"]["url"])
    except (OSError, ValueError, KeyError, TypeError):
        url = ""
    if not url:
        raise UserError(
            "DATABASE_URL is not set (the roster and the audit log live in walletflow's "
            "PostgreSQL; under `walletflow dev`, run this while it is up)"
        )
    return url


def with_pool(settings: Settings, use: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    from store.db import create_pool

    async def go() -> T:
        pool = await create_pool(database_url(settings), max_size=1)
        try:
            return await use(pool)
        finally:
            await pool.close()

    return asyncio.run(go())


def parse_users(items: list[str]) -> dict[str, list[Role]]:
    users: dict[str, list[Role]] = {}
    for item in items:
        found = USER.match(item.strip())
        if found is None:
            raise UserError(
                f"--user {item!r}: expected IDENTITY=ROLE, e.g. tg:1002=approver "
                f"(roles: {', '.join(ROLES)})"
            )
        roles = users.setdefault(found.group(1), [])
        role: Role = found.group(2)  # type: ignore[assignment]  # the pattern names a Role
        if role not in roles:
            roles.append(role)
    return users


def add_line(name: str, public_key: str, roles: Sequence[str]) -> str:
    role_args = " ".join(f"--role {r}" for r in roles) or "--role ROLE"
    return f"walletflow principals add {name} --public-key {public_key} {role_args}"


def _principal_row(p: Principal) -> dict[str, Any]:
    return {
        "id": p.id,
        "public_key": p.public_key,
        "roles": list(p.roles),
        "users": {k: list(v) for k, v in p.users.items()},
        "revoked": p.revoked,
    }


# (update, what --reason is for, the command's help)
DECISION_COMMANDS: tuple[tuple[DecisionAction, str, str], ...] = (
    (
        "approve",
        "recorded with the approval",
        "Approve a withdrawal awaiting approval (never your own), signed with your key.",
    ),
    (
        "reject",
        "told to the requester",
        "Reject a withdrawal awaiting approval (approvers, admins).",
    ),
    (
        "cancel",
        "told to the requester",
        "Cancel a withdrawal not yet broadcast (its requester, or an admin).",
    ),
)


def _decision_command(action: DecisionAction, reason_help: str) -> Callable[..., None]:
    """One of `approve`, `reject`, `cancel`: the same options, another update."""

    def command(
        request_id: str = typer.Argument(...),
        reason: str | None = typer.Option(None, help=reason_help),
        key: Path | None = key_option(),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        by: str | None = by_option(),
    ) -> None:
        no_by(by)
        _decide(action, request_id, key, reason, as_json)

    return command


def register(app: typer.Typer) -> None:
    # ---- decisions ----------------------------------------------------------------------

    for action, reason_help, doc in DECISION_COMMANDS:
        app.command(name=action, help=doc)(_decision_command(action, reason_help))

    @app.command()
    def resolve(
        request_id: str = typer.Argument(...),
        action: str = typer.Option(
            ..., "--action", help="recheck, release or settle (see docs/operations.md §6)"
        ),
        tx_id: str | None = typer.Option(
            None, "--tx-id", help="settle: the tx that landed (default: the last version)"
        ),
        reason: str | None = typer.Option(None, help="what you checked, for the record"),
        key: Path | None = key_option(),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        by: str | None = by_option(),
    ) -> None:
        """Resolve a withdrawal in manual review (admins): recheck, release or settle."""
        no_by(by)
        _decide("resolve", request_id, key, reason, as_json, _resolution(action), tx_id)

    @app.command()
    def intent(
        action: str = typer.Argument(
            ..., help="approve, reject, cancel, resolve; freeze, unfreeze, allow, disallow"
        ),
        target: str = typer.Argument(
            ..., metavar="REQUEST_ID|CHAIN", help="the withdrawal's request id, or the chain"
        ),
        reason: str | None = typer.Option(None),
        resolution: str | None = typer.Option(
            None, "--action", help="resolve: recheck, release or settle"
        ),
        tx_id: str | None = typer.Option(None, "--tx-id", help="resolve --action settle"),
        address: str | None = typer.Option(None, help="allow, disallow: the destination"),
        key: Path | None = key_option(),
    ) -> None:
        """Print a signed statement as one line of JSON (valid 15 minutes, once) for the
        `temporal` CLI.

        temporal workflow update execute --workflow-id withdrawal-ID --name approve --input
        "$(walletflow intent approve ID)"; for a chain's policy, --workflow-id policy-CHAIN
        --name freeze --input "$(walletflow intent freeze CHAIN)". Withdrawals are started
        with `walletflow withdraw`.
        """
        settings = load_settings()
        if action in POLICY_ACTIONS:
            from starter.client.policy import change_of

            chosen_change: PolicyAction = action  # narrowed by the check above
            if (address is None) == (action in ("allow", "disallow")):
                raise UserError("--address belongs to allow and disallow (and they need it)")
            change = change_of(
                settings, signer_of(settings, key), chosen_change, target, reason, address
            )
            sys.stdout.write(change.model_dump_json() + "\n")
            return
        if action not in DECISIONS:
            hint = " (start withdrawals with `walletflow withdraw`)" if action == "withdraw" else ""
            known = ", ".join(DECISIONS + POLICY_ACTIONS)
            raise UserError(f"unknown action {action!r}: expected one of {known}{hint}")
        by = signer_of(settings, key)
        chosen: DecisionAction = action  # narrowed by the check above
        decision = decision_of(
            by,
            chosen,
            target,
            reason,
            None if resolution is None else _resolution(resolution),
            tx_id,
        )
        sys.stdout.write(decision.model_dump_json() + "\n")

    # ---- keys -----------------------------------------------------------------------------

    keys = typer.Typer(help="Signing keys of principals.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("new")
    def keys_new(
        name: str = typer.Argument(..., help="the principal id the key is for, e.g. alice"),
        out: Path | None = typer.Option(
            None, "--out", dir_okay=False, help="where (default $WALLETFLOW_HOME/keys/NAME.json)"
        ),
        role: list[str] | None = typer.Option(
            None, "--role", help="the role(s) to print in the `principals add` line"
        ),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Write a new Ed25519 key (mode 0600, never over an existing file) and print its
        public key and the `walletflow principals add` line an admin runs."""
        if not NAME.match(name):
            raise UserError(
                f"principal name {name!r}: 1-64 letters, digits and . _ : @ -, "
                "starting with a letter or digit"
            )
        roles = _roles(role or [])
        path = out or load_settings().home / "keys" / f"{name}.json"
        signer = new_key(path, name)
        line = add_line(name, signer.public_key, roles)
        if as_json:
            emit_json(
                {"principal": name, "public_key": signer.public_key, "path": str(path), "add": line}
            )
            return
        console.print(f"key for {name} written to {path} (keep it private)", highlight=False)
        console.print(f"public key: {signer.public_key}", highlight=False)
        console.print("an admin adds it to the roster with:", highlight=False)
        console.print(f"  {line}", highlight=False)
        if not roles:
            err.print("ROLE: requester, approver or admin (--role is repeatable)")

    @keys.command("public")
    def keys_public(
        path: Path = typer.Argument(..., dir_okay=False, help="a key file, e.g. bot-key.json"),
    ) -> None:
        """Print the public key of a key file (for `walletflow principals add`)."""
        console.print(load_key(path).public_key, highlight=False)

    # ---- principals -----------------------------------------------------------------------

    principals = typer.Typer(help="The roster: who may request, approve, administer.")
    principals.info.no_args_is_help = True
    app.add_typer(principals, name="principals")

    @principals.command("add")
    def principals_add(
        principal_id: str = typer.Argument(..., metavar="ID"),
        public_key: str = typer.Option(..., "--public-key", help="hex, from `keys new`"),
        role: list[str] | None = typer.Option(
            None, "--role", help="requester, approver or admin (repeatable)"
        ),
        user: list[str] | None = typer.Option(
            None,
            "--user",
            help="a service principal (the bot) signs for IDENTITY=ROLE, e.g. tg:1002=approver "
            "(repeatable)",
        ),
    ) -> None:
        """Add a principal to the roster, or change the roles of an unrevoked one (same key).
        Written to DATABASE_URL directly and audited as cli:<os user>."""
        if not NAME.match(principal_id):
            raise UserError(f"principal id {principal_id!r}: 1-64 letters, digits and . _ : @ -")
        key = public_key.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", key):
            raise UserError("--public-key must be 64 hex digits (a raw Ed25519 public key)")
        principal = Principal(
            id=principal_id, public_key=key, roles=_roles(role or []), users=parse_users(user or [])
        )
        if not principal.roles and not principal.users:
            raise UserError("give at least one --role (or --user for a service principal)")

        async def add(pool: asyncpg.Pool) -> bool:
            from store import authority

            try:
                return await authority.add_principal(pool, principal, cli_actor())
            except ValueError as exc:
                raise UserError(str(exc)) from None
            except asyncpg.UniqueViolationError:
                raise UserError("that public key belongs to another principal") from None

        changed = with_pool(load_settings(), add)
        what = ", ".join(principal.roles) or "service for " + ", ".join(principal.users)
        console.print(
            f"principal {principal_id}: {'saved' if changed else 'unchanged'} ({what})",
            highlight=False,
        )

    @principals.command("list")
    def principals_list(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        """The roster: every principal, its roles (or the users it signs for), revoked or not."""
        from store import authority

        roster = with_pool(load_settings(), authority.load_roster)
        rows = [_principal_row(p) for p in roster.principals]
        if as_json:
            emit_json(rows)
        elif not rows:
            say("the roster is empty: add principals with `walletflow principals add`")
        else:
            table(
                ("id", "roles", "signs for", "state", "public key"),
                [
                    (
                        r["id"],
                        ",".join(r["roles"]) or "-",
                        " ".join(f"{u}={'+'.join(v)}" for u, v in r["users"].items()) or "-",
                        "revoked" if r["revoked"] else "active",
                        r["public_key"],
                    )
                    for r in rows
                ],
            )

    @principals.command("revoke")
    def principals_revoke(principal_id: str = typer.Argument(..., metavar="ID")) -> None:
        """Revoke a principal for good: its statements are refused, and its approvals stop
        counting in running withdrawals too. Audited as cli:<os user>."""

        async def revoke(pool: asyncpg.Pool) -> bool:
            from store import authority

            try:
                return await authority.revoke_principal(pool, principal_id, cli_actor())
            except KeyError:
                raise UserError(f"no principal {principal_id!r} in the roster") from None

        done = with_pool(load_settings(), revoke)
        console.print(
            f"principal {principal_id}: {'revoked' if done else 'was revoked already'}",
            highlight=False,
        )

    # ---- audit ----------------------------------------------------------------------------

    @app.command()
    def audit(
        since: str | None = typer.Option(None, help="from this ISO time, e.g. 2025-01-31T00:00Z"),
        limit: int = typer.Option(100, min=1, max=100_000, help="at most the newest N entries"),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """The append-only audit log, oldest first: every signed statement accepted or
        refused, and every change to the roster."""
        from store import authority

        start = _since(since)
        entries = with_pool(
            load_settings(), lambda pool: authority.audit_log(pool, since=start, limit=limit)
        )
        if as_json:
            emit_json(entries)
        elif not entries:
            say("no audit entries")
        else:
            table(
                ("at", "actor", "principal", "action", "subject", "outcome", "reason"),
                [
                    (
                        f"{e['at']:%Y-%m-%d %H:%M:%S%z}",
                        str(e["actor"]),
                        str(e["principal"] or "-"),
                        str(e["action"]),
                        str(e["subject"]),
                        str(e["outcome"] or "-"),
                        str(e["reason"] or ""),
                    )
                    for e in entries
                ],
            )


def _resolution(value: str) -> Resolution:
    if value not in RESOLUTIONS:
        raise UserError(f"--action {value!r}: expected recheck, release or settle")
    return value


def _roles(values: list[str]) -> list[Role]:
    roles: list[Role] = []
    for value in values:
        if value not in ROLES:
            raise UserError(f"unknown role {value!r}: expected requester, approver or admin")
        if value not in roles:
            roles.append(value)
    return roles


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--since {value!r} is not an ISO date or time") from None
    return when if when.tzinfo else when.astimezone()  # a naive time is local time
