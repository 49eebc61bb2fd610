"""The bot's trading commands end to end: /buy with the venue's quote and Confirm, /copy,
/copies and /uncopy, each signed by the bot for the Telegram user and verified by the workflow."""

from __future__ import annotations

import asyncpg
from solders.keypair import Keypair

from core.copying import CopyStatus
from starter.bot.text import short
from starter.client import withdrawals
from starter.client.withdrawals import TRADE
from tests.support.bot import OPERATOR, STRANGER, Harness, buttons, request_id_in
from tests.support.stack import Stack, eventually


async def test_buy_shows_the_quote_and_trades_once_confirmed(
    stack: Stack, harness: Harness, pool: asyncpg.Pool
) -> None:
    since = await harness.mark()
    await harness.send(OPERATOR, "/buy USDC 0.3")
    [summary] = await harness.wait(OPERATOR, 1, since=since)
    text = summary["plain_text"]
    assert "Sell 0.3 SOL for USDC on solana" in text, text
    assert "Quote: ≈ " in text and "USDC (at least " in text and "price impact" in text
    rid = request_id_in(text)
    assert buttons(summary) == [f"wdc:go:{rid}", f"wdc:drop:{rid}"]
    query = await harness.press(OPERATOR, f"wdc:go:{rid}", message_id=summary["message_id"])
    assert (await harness.answer(query))["text"] == "Started"
    result = await withdrawals.handle(stack.client, rid, TRADE).result()
    assert result.status == "confirmed", result
    assert result.requested_by == f"tg:{OPERATOR}" and result.fill is not None
    done = await harness.wait_for(
        OPERATOR, lambda m: f"Trade {rid} confirmed" in m["plain_text"], since=since
    )
    assert "Swapped 0.3 SOL → " in done["plain_text"], done["plain_text"]
    assert "0.3 SOL ≈ $45.00 (SOL $150.00, " in done["plain_text"], done["plain_text"]
    kinds = await pool.fetch("SELECT kind FROM ledger_entries WHERE request_id = $1", rid)
    assert sorted(r["kind"] for r in kinds) == ["debit", "fill", "reserve"]


async def test_trading_needs_an_operator_and_good_input(harness: Harness) -> None:
    assert "Only operators" in await harness.ask(STRANGER, "/buy USDC 1")
    assert "unknown token 'NOPE'" in await harness.ask(OPERATOR, "/buy NOPE 1")
    assert "give a TOKEN and an AMOUNT" in await harness.ask(OPERATOR, "/sell USDC")
    assert "the leader is not an address" in await harness.ask(OPERATOR, "/copy nope 0.1")
    leader = str(Keypair().pubkey())
    assert "'tp' needs a percentage" in await harness.ask(OPERATOR, f"/copy {leader} 0.1 tp")
    assert "'xx' is not an exit" in await harness.ask(OPERATOR, f"/copy {leader} 0.1 xx 5")
    assert "'sl' is not an exit" in await harness.ask(OPERATOR, f"/copy {leader} 0.1 sl 5 sl 6")
    reply = await harness.ask(OPERATOR, f"/copy {leader} 0.1 trail 100")
    assert "--trailing-stop must be under 100 (%), not 100" in reply, reply


async def test_copy_copies_and_uncopy(stack: Stack, harness: Harness) -> None:
    leader = str(Keypair().pubkey())
    reply = await harness.ask(OPERATOR, f"/copy {leader} 0.05 tp 50/30 sl 20% trail 15")
    assert f"Copying {leader}" in reply and f"copy-tg:{OPERATOR}-{leader}" in reply, reply
    assert "exits: sell 30% at +50%, all at -20%, all 15% under the high" in reply, reply
    started = stack.client.get_workflow_handle(f"copy-tg:{OPERATOR}-{leader}")
    rules = (await started.query("status", result_type=CopyStatus)).rules
    assert (rules.take_profit_pct, rules.take_profit_sell_pct) == ("50", "30")
    assert (rules.stop_loss_pct, rules.trailing_stop_pct) == ("20", "15")

    async def listed() -> str | None:  # the list comes from visibility, a moment behind
        reply = await harness.ask(OPERATOR, "/copies")
        return reply if "Your copies" in reply else None

    listing = await eventually(listed)
    assert short(leader) in listing and "running" in listing, listing
    assert f"Stopping copy-tg:{OPERATOR}-{leader}" in await harness.ask(
        OPERATOR, f"/uncopy {leader}"
    )
