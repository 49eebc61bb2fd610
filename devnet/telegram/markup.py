"""reply_markup validation with the Bot API's error texts (without the "Bad Request: " prefix)."""

from __future__ import annotations

from typing import Any

from devnet.telegram.entities import check_link

# A button must do exactly one of these; a button with only "text" is refused.
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MAX_BUTTONS = 100
MAX_CALLBACK_DATA_BYTES = 64


class MarkupError(ValueError):
    """str(error) is the description after "Bad Request: "."""


def validate_reply_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """The markup as Telegram keeps it (an empty inline keyboard is no keyboard), or MarkupError."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise MarkupError("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return _validate_inline_keyboard(markup["inline_keyboard"])
    if inline_only:
        raise MarkupError("can't parse inline keyboard markup JSON object")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise MarkupError(
                'can\'t parse keyboard markup: Field "keyboard" of the ReplyKeyboardMarkup '
                "should be an Array of Arrays"
            )
        return markup
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise MarkupError("can't parse reply keyboard markup JSON object")


def _validate_inline_keyboard(rows: Any) -> dict[str, Any] | None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise MarkupError(
            'can\'t parse inline keyboard markup: Field "inline_keyboard" of the '
            "InlineKeyboardMarkup should be an Array of Arrays"
        )
    count = 0
    for row in rows:
        for button in row:
            count += 1
            _validate_button(button)
    if count > MAX_BUTTONS:
        raise MarkupError("reply markup is too long")
    rows = [row for row in rows if row]
    return {"inline_keyboard": rows} if rows else None


def _validate_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise MarkupError(
            "can't parse inline keyboard button: InlineKeyboardButton should be an Object"
        )
    if not isinstance(button.get("text"), str):
        raise MarkupError(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    actions = [name for name in BUTTON_ACTIONS if name in button]
    if not actions:
        raise MarkupError(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise MarkupError("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or check_link(url) is None:
            raise MarkupError("BUTTON_URL_INVALID")
