"""`walletflow trade buy|sell`: swaps from the trading wallet (the chain's hot wallet), each a
durable `trade-{request_id}` under the withdrawal rules; and `copy`, `copies`, `uncopy`:
copying a leader's swaps (`copy-{follower}-{leader}`)."""

from __future__ import annotations

from pathlib import Path

import typer

import chains
from core.exits import ExitRules
from starter.cli import authority, exits, moves
from starter.cli.authority import JSON_HELP
from starter.runtime.settings import load_settings

app = typer.Typer(help="Swap from the trading wallet: buy or sell a listed token.")


def _trade(
    side: str,
    token: str,
    amount: str,
    *,
    chain: str,
    request_id: str,
    slippage_bps: int,
    priority_fee: int,
    key: Path | None,
    chat: int | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    exits: ExitRules,
) -> None:
    from starter.client import positions, trades, withdrawals
    from starter.client.checks import check_exits

    settings = load_settings()
    req = trades.build_request(
        settings,
        chain=chain,
        side="buy" if side == "buy" else "sell",
        token=token,
        amount=amount,
        request_id=request_id,
        requested_by="",  # the signature says who: `signed` sets it
        slippage_bps=slippage_bps,
        priority_fee=priority_fee,
        notify_chat=chat,
    )
    position = positions.build_request(settings, req, exits) if exits.exit_rules else None
    if position is None:
        check_exits(exits)  # a lone --take-profit-sell still says what is wrong
    signer = authority.signer_of(settings, key)
    if position is not None:
        position = positions.signed(position, signer)
        req = position.buy
    else:
        req = withdrawals.signed(req, signer)
    moves.start_and_report(
        settings, req, signer, wait=wait, timeout=timeout, as_json=as_json, position=position
    )


def _command(side: str, amount_help: str) -> None:
    def command(
        token: str = typer.Argument(..., help="a listed token's symbol or mint, e.g. USDC"),
        amount: str = typer.Argument(..., help=amount_help),
        request_id: str = typer.Option(..., "--request-id", help="your unique id for this trade"),
        chain: str = typer.Option(chains.TRADING[0], help="the chain (one with a swap venue)"),
        slippage_bps: int = typer.Option(50, "--slippage-bps", help="the most slippage, in bps"),
        priority_fee: int = typer.Option(
            10_000, "--priority-fee", help="the most priority fee, in lamports"
        ),
        key: Path | None = authority.key_option(),
        chat: int | None = typer.Option(None, help="Telegram chat told about the outcome"),
        wait: bool = typer.Option(False, help="wait for the final status and print it"),
        timeout: float | None = typer.Option(
            None,
            min=0,
            help=f"with --wait: give up after this many seconds (exit {exits.TIMED_OUT})",
        ),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        take_profit: str | None = typer.Option(
            None, "--take-profit", help="buy only: sell when the USD price is up this many %"
        ),
        take_profit_sell: str | None = typer.Option(
            None, "--take-profit-sell", help="buy only: % the take-profit sells (default all)"
        ),
        stop_loss: str | None = typer.Option(
            None, "--stop-loss", help="buy only: sell all when the USD price is down this many %"
        ),
        trailing_stop: str | None = typer.Option(
            None, "--trailing-stop", help="buy only: sell all this many % under the high"
        ),
    ) -> None:
        _trade(
            side,
            token,
            amount,
            chain=chain,
            request_id=request_id,
            slippage_bps=slippage_bps,
            priority_fee=priority_fee,
            key=key,
            chat=chat,
            wait=wait,
            timeout=timeout,
            as_json=as_json,
            exits=ExitRules(
                take_profit_pct=take_profit,
                take_profit_sell_pct=take_profit_sell,
                stop_loss_pct=stop_loss,
                trailing_stop_pct=trailing_stop,
            ),
        )

    command.__doc__ = (
        f"{side.capitalize()} TOKEN, signed with your key. The same request id never makes a "
        "second trade. With --wait, a trade that ends other than confirmed exits 3. A buy "
        "with exits is held by `position-{request_id}`, which sells it on them (each at most "
        "once, as `trade-exit-{request_id}-{tp|sl|trail}`), under a second signed statement."
    )
    app.command(side)(command)


_command("buy", "how much of the chain's coin to spend, e.g. 0.5 (SOL)")
_command("sell", "how much of the token to sell, e.g. 100")


def _list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def copy(
    leader: str = typer.Argument(..., help="the wallet address to copy"),
    sol: str | None = typer.Option(None, "--sol", help="SOL to spend per copied buy"),
    pct: str | None = typer.Option(None, "--pct", help="or this % of the leader's buy"),
    max_per_buy: str = typer.Option("1", "--max-per-buy", help="SOL per buy at most"),
    slippage_bps: int = typer.Option(100, "--slippage-bps", help="the most slippage, in bps"),
    priority_fee: int = typer.Option(10_000, "--priority-fee", help="lamports at most"),
    allow: str | None = typer.Option(None, help="copy only these tokens (comma-separated)"),
    deny: str | None = typer.Option(None, help="never copy these tokens (comma-separated)"),
    daily_cap: str = typer.Option("1", "--daily-cap", help="SOL spent on buys per UTC day"),
    max_positions: int = typer.Option(5, "--max-positions", min=1, help="open positions"),
    max_age: int = typer.Option(120, "--max-age", min=1, help="skip leader trades older (s)"),
    max_price_impact: str = typer.Option("0.05", "--max-price-impact", help="a fraction"),
    min_liquidity: str | None = typer.Option(
        None, "--min-liquidity", help="SOL a pool must hold (estimated from each quote)"
    ),
    take_profit: str | None = typer.Option(
        None, "--take-profit", help="sell when a position's USD price is up this many %"
    ),
    take_profit_sell: str | None = typer.Option(
        None, "--take-profit-sell", help="% of the position the take-profit sells (default all)"
    ),
    stop_loss: str | None = typer.Option(
        None, "--stop-loss", help="sell all when a position's USD price is down this many %"
    ),
    trailing_stop: str | None = typer.Option(
        None, "--trailing-stop", help="sell all at this many % under the highest price seen"
    ),
    key: Path | None = authority.key_option(),
    chat: int | None = typer.Option(None, help="Telegram chat told about each copied trade"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Copy a leader's swaps from the trading wallet, signed with your key (a standing order
    valid 30 days). Each leader trade is copied at most once."""
    import asyncio

    from core.copying import CopyRules
    from starter.cli.output import emit_json, say
    from starter.client import connect
    from starter.client import copies as client_copies

    settings = load_settings()
    rules = CopyRules(
        sol_per_buy=sol,
        pct_of_leader=pct,
        max_per_buy=max_per_buy,
        slippage_bps=slippage_bps,
        priority_fee_lamports=priority_fee,
        allow=_list(allow),
        deny=_list(deny),
        daily_cap=daily_cap,
        max_open_positions=max_positions,
        max_age_seconds=max_age,
        max_price_impact=max_price_impact,
        min_liquidity=min_liquidity,
        take_profit_pct=take_profit,
        take_profit_sell_pct=take_profit_sell,
        stop_loss_pct=stop_loss,
        trailing_stop_pct=trailing_stop,
    )
    req = client_copies.build_request(settings, leader=leader, rules=rules, chat=chat)
    req = client_copies.signed(req, authority.signer_of(settings, key))

    async def go() -> tuple[str, bool]:
        return await client_copies.start(await connect(settings), settings, req)

    workflow_id, created = asyncio.run(go())
    if as_json:
        emit_json({"workflow_id": workflow_id, "created": created})
    elif created:
        say(f"copying started: {workflow_id}", as_json=False)
    else:
        say(f"{req.follower} copies {req.leader} already: {workflow_id}", as_json=False)


def copies_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List running copies, with their positions and realized PnL."""
    import asyncio

    from core.amounts import from_base_units, plain
    from core.copying import CopyStatus
    from starter.cli.output import emit_json, table
    from starter.client import connect
    from starter.client import copies as client_copies

    settings = load_settings()

    async def go() -> list[CopyStatus]:
        return await client_copies.copies(await connect(settings))

    found = asyncio.run(go())
    if as_json:
        emit_json([c.model_dump(mode="json") for c in found])
        return
    rows = [
        (
            c.follower,
            c.leader,
            c.state,
            ", ".join(f"{p.symbol} {p.amount}" for p in c.positions) or "-",
            plain(from_base_units(c.realized_pnl, 9)),
        )
        for c in found
    ]
    table(("follower", "leader", "state", "positions", "realized SOL"), rows)


def uncopy(
    leader: str = typer.Argument(..., help="the leader to stop copying"),
    key: Path | None = authority.key_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Stop copying a leader (trades in flight finish)."""
    import asyncio

    from starter.cli.output import emit_json, say
    from starter.client import connect
    from starter.client import copies as client_copies

    settings = load_settings()
    follower = authority.signer_of(settings, key).identity

    async def go() -> str:
        return await client_copies.stop(await connect(settings), follower, leader.strip())

    workflow_id = asyncio.run(go())
    if as_json:
        emit_json({"workflow_id": workflow_id, "stopping": True})
    else:
        say(f"stopping {workflow_id}", as_json=False)


@app.command("positions")
def positions_command(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the buys held under exits, with what they hold and their exits."""
    import asyncio

    from core.amounts import from_base_units, plain
    from core.positions import PositionStatus
    from starter.cli.output import emit_json, table
    from starter.client import connect, positions

    settings = load_settings()

    async def go() -> list[PositionStatus]:
        return await positions.positions(await connect(settings))

    found = asyncio.run(go())
    if as_json:
        emit_json([p.model_dump(mode="json") for p in found])
        return
    rows = []
    for p in found:
        held = p.position
        amount = (
            f"{plain(from_base_units(held.amount, held.decimals))} {held.symbol}" if held else "-"
        )
        fired = ", ".join(held.exits) if held and held.exits else "-"
        entry = held.entry_usd if held and held.entry_usd else "-"
        rows.append((p.workflow_id, p.owner, p.state, amount, entry, fired))
    table(("position", "owner", "state", "holds", "entry USD", "exits fired"), rows)


@app.command("stop-exits")
def stop_exits(
    request_id: str = typer.Argument(..., help="the buy's request id"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Drop a position's exits (what it bought stays in the trading wallet)."""
    import asyncio

    from starter.cli.output import emit_json, say
    from starter.client import connect, positions

    settings = load_settings()

    async def go() -> str:
        return await positions.stop(await connect(settings), request_id.strip())

    workflow_id = asyncio.run(go())
    if as_json:
        emit_json({"workflow_id": workflow_id, "stopping": True})
    else:
        say(f"stopping {workflow_id}: its exits are dropped", as_json=False)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="trade")
    parent.command("copy")(copy)
    parent.command("copies")(copies_command)
    parent.command("uncopy")(uncopy)
