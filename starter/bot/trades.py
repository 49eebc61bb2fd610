"""Trading commands (operators): /buy and /sell (a summary with the venue's quote and
Confirm/Cancel: the same buttons and pending store as /withdraw), /copy, /copies, /uncopy.

As with withdrawals, the bot signs each trade or copy with its service key for the Telegram
user (`tg:<id>`), and the workflows verify that statement against the roster."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from temporalio.client import Client

import chains
from core.amounts import from_base_units, plain
from core.copying import CopyRules
from starter.bot.auth import requires
from starter.bot.pending import Pending, PendingWithdrawals
from starter.bot.text import BadUsage, address_link, amount, code, esc, short
from starter.bot.withdrawals import confirm_keyboard, for_user, may_withdraw, new_request_id
from starter.client import copies, trades
from starter.client.signer import Signer
from starter.runtime.settings import Settings

CHAIN = chains.TRADING[0]  # the chain whose swap venue the bot trades on


async def trade(
    message: Message,
    command: CommandObject,
    settings: Settings,
    pending: PendingWithdrawals,
    pool: asyncpg.Pool,
    signer: Signer,
) -> None:
    side: trades.Side = "buy" if command.command == "buy" else "sell"
    parts = (command.args or "").split()
    if len(parts) != 2:
        raise BadUsage(side, "give a TOKEN and an AMOUNT" if len(parts) < 2 else "too many words")
    token, value = parts
    user = message.from_user
    assert user is not None  # the auth middleware let an operator through
    req = trades.build_request(
        settings,
        chain=CHAIN,
        side=side,
        token=token,
        amount=value,
        request_id=new_request_id(),
        requested_by=f"tg:{user.id}",
        notify_chat=message.chat.id,
    )
    await may_withdraw(pool, req, for_user(signer, user.id))
    assert req.swap is not None
    summary = "\n".join(
        [
            f"<b>Trade</b> {code(req.request_id)}",
            f"Sell <b>{amount(req.amount, req.asset)}</b> for {esc(req.swap.output)} on {CHAIN}",
            esc(await trades.quote_line(settings, req)),
            f"Slippage at most {plain(Decimal(req.swap.slippage_bps) / 100)}%; "
            "a fresh quote is taken as it is signed",
        ]
    )
    pending.add(Pending(request=req, user_id=user.id, summary=summary))
    keyboard = confirm_keyboard(req.request_id)
    await message.answer(f"{summary}\n\nTrade?", reply_markup=keyboard)


async def copy(
    message: Message, command: CommandObject, settings: Settings, client: Client, signer: Signer
) -> None:
    parts = (command.args or "").split()
    if len(parts) < 2:
        raise BadUsage("copy", "give a LEADER address and SOL per buy")
    leader, sol, *more = parts
    user = message.from_user
    assert user is not None
    rules = CopyRules(sol_per_buy=sol, **exit_options(more))
    req = copies.build_request(settings, leader=leader, rules=rules, chat=message.chat.id)
    req = copies.signed(req, for_user(signer, user.id))
    workflow_id, created = await copies.start(client, settings, req)
    verb = "Copying" if created else "Already copying"
    await message.answer(
        f"🪞 {verb} {address_link(CHAIN, req.leader)}: {amount(sol, 'SOL')} per buy, the same "
        f"fraction on sells{exits_line(rules)}.\n"
        f"{code(workflow_id)} · /uncopy {esc(req.leader)} to stop"
    )


EXIT_WORDS = {"tp": "take_profit_pct", "sl": "stop_loss_pct", "trail": "trailing_stop_pct"}


def exit_options(words: list[str]) -> dict[str, str]:
    """`tp 50[/30]`, `sl 20`, `trail 15` (percentages; `/30`: the share a take-profit
    sells): CopyRules fields, checked later with the CLI's bounds."""
    if len(words) % 2:
        raise BadUsage("copy", f"{words[-1]!r} needs a percentage after it")
    found: dict[str, str] = {}
    for word, value in zip(words[::2], words[1::2], strict=True):
        field = EXIT_WORDS.get(word.lower())
        if field is None or field in found:
            raise BadUsage("copy", f"{word!r} is not an exit: use tp, sl or trail, once each")
        value = value.rstrip("%")
        if field == "take_profit_pct" and "/" in value:
            value, found["take_profit_sell_pct"] = value.split("/", 1)
        found[field] = value
    return found


def exits_line(rules: CopyRules) -> str:
    said = []
    if rules.take_profit_pct is not None:
        share = rules.take_profit_sell_pct or "100"
        said.append(f"sell {esc(share)}% at +{esc(rules.take_profit_pct)}%")
    if rules.stop_loss_pct is not None:
        said.append(f"all at -{esc(rules.stop_loss_pct)}%")
    if rules.trailing_stop_pct is not None:
        said.append(f"all {esc(rules.trailing_stop_pct)}% under the high")
    return "; exits: " + ", ".join(said) if said else ""


async def list_copies(message: Message, client: Client) -> None:
    user = message.from_user
    assert user is not None
    mine = await copies.copies(client, follower=f"tg:{user.id}")
    if not mine:
        await message.answer("You copy nobody. /copy LEADER SOL starts.")
        return
    lines = ["<b>Your copies</b>"]
    for c in mine:
        held = ", ".join(
            f"{plain(from_base_units(p.amount, p.decimals))} {esc(p.symbol)}" for p in c.positions
        )
        pnl = plain(from_base_units(c.realized_pnl, 9))
        lines.append(
            f"• {code(short(c.leader))} {esc(c.state)} — {held or 'no position'}; "
            f"realized {pnl} SOL"
        )
    await message.answer("\n".join(lines))


async def uncopy(message: Message, command: CommandObject, client: Client) -> None:
    leader = (command.args or "").strip()
    if not leader:
        raise BadUsage("uncopy")
    user = message.from_user
    assert user is not None
    workflow_id = await copies.stop(client, f"tg:{user.id}", leader)
    await message.answer(f"Stopping {code(workflow_id)}; trades in flight finish.")


def make_router() -> Router:
    router = Router(name="trades")
    operators = requires("operator")
    router.message.register(trade, Command("buy", "sell"), flags=operators)
    router.message.register(copy, Command("copy"), flags=operators)
    router.message.register(list_copies, Command("copies"), flags=operators)
    router.message.register(uncopy, Command("uncopy"), flags=operators)
    return router
