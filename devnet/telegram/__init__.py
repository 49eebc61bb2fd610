"""A local Telegram Bot API (api.telegram.org stand-in) that an unmodified aiogram bot talks to.

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(devnet.url)))

Bot API: `{url}/bot{token}/{method}`, GET or POST with a query string, JSON, urlencoded or
multipart body; answers `{"ok": true, "result": ...}` or `{"ok": false, "error_code": N,
"description": "...", "parameters": {"retry_after": N}}` with the same status code. Any token
`<digits>:<[A-Za-z0-9_-]+>` is a bot (401 otherwise; `config.tokens` restricts the set); the
numeric prefix is the bot id, each bot has its own chats, messages and update queue.
Methods: getMe, sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage,
answerCallbackQuery, getUpdates (long polling, offset confirmation, allowed_updates, 409 on a
concurrent poll or while a webhook is set), setWebhook, deleteWebhook, getWebhookInfo,
setMyCommands, getMyCommands, deleteMyCommands, sendChatAction; anything else is 404.
Text is validated like Telegram (empty, > 4096 characters, HTML / MarkdownV2 / Markdown
entity parsing, callback_data <= 64 bytes) and flood-limited with token buckets (per chat,
per group per minute, per bot) answering 429 with retry_after. `devnet.faults` knobs apply
to every Bot API call; `lost_response_rate` drops sendMessage's connection after the message
was stored, which is why sendMessage cannot be retried blindly.

Devnet endpoints (for tests and scripts):

- `GET /_devnet/messages[?chat_id=&bot_id=&since_index=]`: every message a bot sent, oldest
  first: `{"index", "bot_id", "chat_id", "message_id", "text" (as sent, with markup),
  "parse_mode", "reply_markup", "date" (unix s), "time" (ISO-8601 UTC, ms), "plain_text"
  (current text as displayed), "reply_to_message_id", "link_preview_options", "edits":
  [{"kind": "text"|"reply_markup", "text", "parse_mode", "plain_text", "reply_markup",
  "time"}], "deleted"}`. `index` only grows (also across resets); poll with
  `since_index=<last index + 1>`.
- `POST /_devnet/updates`: inject a user update, answered `{"ok": true, "update_id", "bot_id",
  "queued", "message_id"?, "callback_query_id"?}` (`queued` is false when the bot's
  allowed_updates filters it out). The body is a full Update object without update_id, or:
  `{"chat_id", "from_id", "text", "username"?, "first_name"?, "reply_to_message_id"?}` for a
  message (bot commands get their entity), or `{"chat_id", "from_id", "callback_data",
  "message_id"? | "inline_message_id"?}` for a button press (without message_id: the newest
  bot message in the chat having that button). `chat_id` and `from_id` default to each other.
  `"token"` or `"bot_id"` picks the bot; default the first bot seen, else the default token's.
  With a webhook set, updates are POSTed to it (header X-Telegram-Bot-Api-Secret-Token)
  instead of waiting for getUpdates; a method in the webhook's answer is executed.
- `GET /_devnet/callback_answers[?bot_id=]`: answerCallbackQuery calls: `{"bot_id",
  "callback_query_id", "text", "show_alert", "url", "cache_time", "time"}`.
- `GET /_devnet/bots`: `{"bot_id", "username", "token", "webhook_url", "allowed_updates",
  "pending_updates"}` per bot.
- `POST /_devnet/inline_messages` `{"text", "parse_mode"?, "reply_markup"?, "token"?}`:
  a message sent via the bot in inline mode; returns `{"ok": true, "inline_message_id"}`.
- `POST /_devnet/reset`: forget messages, updates, callback answers and flood state.
- `GET|POST /_devnet/config`: `TelegramDevnetConfig` as JSON / change some of its fields.
- `GET|POST /_devnet/faults`: the shared fault knobs (`devnet.faults`).

Run standalone: `python -m devnet.telegram --port 8081`.
"""

from devnet.telegram.server import TelegramDevnet, TelegramDevnetConfig

__all__ = ["TelegramDevnet", "TelegramDevnetConfig"]
