"""Messages longer than Telegram's 4,096 characters: cut cleanly, sent once, buttons kept."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.notify import CUT_MARK, MAX_TEXT, NotifyActivities, fit_message
from core.models import Button, Notification
from devnet.telegram.entities import parse_html, utf16_len
from tests.activities.test_notify import notify, sent_to  # noqa: F401
from tests.support.ids import chat_id


def visible(html: str) -> str:
    return parse_html(html)[0]


def long_report(lines: int) -> str:
    """A monitor-style digest: links, bold amounts, escaped text, and a <pre> block across
    lines, so that a cut anywhere could land inside a tag, an entity or an open element."""
    rows = [
        f'<b>#{i}</b> received <code>1.5 USDC</code> from <a href="https://explorer.solana.com/'
        f'tx/{i:064d}">tx {i}</a> &amp; fee &lt;0.001&gt; ✅'
        for i in range(lines)
    ]
    return "\n".join(["<b>Digest</b>", "<pre>", *rows[: lines // 2], "</pre>", *rows[lines // 2 :]])


def test_a_short_message_is_untouched() -> None:
    text = long_report(10)
    assert fit_message(text) is text


@pytest.mark.parametrize("lines", [100, 101, 150, 400])
def test_a_long_message_is_cut_at_a_line_and_stays_valid_html(lines: int) -> None:
    text = long_report(lines)
    assert utf16_len(visible(text)) > MAX_TEXT
    cut = fit_message(text)
    shown = visible(cut)  # raises if a tag or an entity were cut or left open
    assert utf16_len(shown) <= MAX_TEXT
    assert shown.endswith("\n" + CUT_MARK)
    kept = shown.removesuffix("\n" + CUT_MARK)
    assert visible(text).startswith(kept) and visible(text)[len(kept)] == "\n"  # a whole line
    assert utf16_len(kept) > MAX_TEXT - 200  # nothing more than the last line dropped


def test_one_enormous_line_is_cut_between_characters_never_inside_markup() -> None:
    text = "<b>big</b> " + "<i>x &amp; y</i> " * 1000 + "\nend"
    for limit in range(4000, 4016):  # every alignment of the cut against the markup
        cut = fit_message(text, limit)
        shown = visible(cut)
        assert utf16_len(shown) <= limit and shown.endswith(CUT_MARK)
        assert visible(text).startswith(shown.removesuffix(CUT_MARK))
        assert utf16_len(shown) >= limit - len("x &amp; y")


def test_astral_characters_count_as_two() -> None:
    text = "🚀" * 3000  # 6000 UTF-16 units
    shown = visible(fit_message(text))
    assert utf16_len(shown) <= MAX_TEXT and shown.endswith(CUT_MARK)


async def test_a_long_notification_is_sent_cut_with_its_buttons(
    notify: NotifyActivities,  # noqa: F811
    telegram: Any,
) -> None:
    chat = chat_id()
    buttons = [
        [Button(text="Approve", callback_data="a:1"), Button(text="Reject", callback_data="r:1")]
    ]
    n = Notification(
        dedupe_key=f"{chat}:long", chat_id=chat, text=long_report(400), buttons=buttons
    )
    result = await ActivityEnvironment().run(notify.send_notification, n)
    assert result.status == "sent", result.detail  # was "failed": "message is too long"
    [message] = await sent_to(telegram, chat)
    assert message["plain_text"].endswith("\n" + CUT_MARK)
    assert len(message["plain_text"]) <= MAX_TEXT
    keyboard = message["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in keyboard] == [["Approve", "Reject"]]
