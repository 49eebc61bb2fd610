"""The Telegram Bot API stand-in: `TelegramDevnet` and its `TelegramDevnetConfig`.

See the package docstring (`devnet/telegram/__init__.py`) for the endpoints and their JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from devnet.faults import Faults, drop_connection, faults_middleware
from devnet.http import DevnetServer
from devnet.telegram.entities import (
    EntityParseError,
    UnsupportedParseMode,
    detect_entities,
    format_text,
)
from devnet.telegram.markup import MarkupError, validate_reply_markup
from devnet.telegram.ratelimit import TokenBucket, acquire
from devnet.telegram.state import (
    DEFAULT_ALLOWED_UPDATES,
    JSON,
    UPDATE_TYPES,
    BotState,
    CallbackQueryState,
    ChatState,
    MessageRecord,
    StoredMessage,
    Webhook,
    bot_username,
    chat_json,
    now_iso,
    unix_now,
)

DEFAULT_TOKEN = "7000000001:DEVNETwalletflowLocalStandInToken00"  # = starter.devstack
TOKEN_RE = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{1,128}$")
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_ANSWER_LENGTH = 200
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
NEW_MESSAGE_KINDS = ("message", "channel_post", "business_message")
MESSAGE_KINDS = (
    *NEW_MESSAGE_KINDS,
    "edited_message",
    "edited_channel_post",
    "edited_business_message",
)
# Methods whose response the lost_response fault may drop after the message was stored.
LOSSY_METHODS = frozenset({"sendmessage"})


class TelegramDevnetConfig(BaseModel):
    """Behaviour of the stand-in; changeable at run time with `POST /_devnet/config`."""

    model_config = {"validate_assignment": True}

    rate_limits: bool = Field(True, description="apply Telegram's flood limits (429)")
    per_chat_rate: float = Field(1.0, gt=0, description="messages per second per chat")
    per_chat_burst: int = Field(3, ge=1, description="messages a chat may get at once")
    global_rate: float = Field(30.0, gt=0, description="messages per second per bot")
    global_burst: int = Field(30, ge=1)
    group_per_minute: int = Field(20, ge=1, description="messages per minute in a group chat")
    strict_html_ampersand: bool = Field(
        True, description="reject a bare '&' in HTML (Telegram keeps it; its docs forbid it)"
    )
    default_token: str = Field(DEFAULT_TOKEN, pattern=TOKEN_RE.pattern)
    tokens: list[str] | None = Field(None, description="if set, only these tokens authorize")
    blocked_chats: list[int] = Field(
        default_factory=list, description="chats whose user blocked the bot (403)"
    )
    max_poll_timeout: int = Field(50, ge=0, description="cap on getUpdates timeout, seconds")
    webhook_timeout: float = Field(10.0, gt=0)
    webhook_retry_delay: float = Field(1.0, gt=0, description="first retry delay, doubles")


class ApiError(Exception):
    """An unsuccessful Bot API answer."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def response(self) -> web.Response:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.code)


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class Described:
    """A successful result that also carries Telegram's `description` (setWebhook does)."""

    def __init__(self, result: Any, description: str) -> None:
        self.result = result
        self.description = description


class InjectError(ValueError):
    """A bad `POST /_devnet/updates` body."""


class Params:
    """Method parameters from a query string, a form or a JSON body.

    Form values are strings, with objects JSON-encoded (what aiogram sends); a JSON body has
    native values. Telegram accepts both, so every accessor accepts both.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> Any:
        value = self._values.get(name)
        return None if value is None or value == "" else value

    def string(self, name: str) -> str | None:
        value = self.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def integer(self, name: str, error: str | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise bad_request(error or f"invalid {name} specified")

    def boolean(self, name: str) -> bool:
        value = self.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def json(self, name: str, error: str | None = None) -> Any:
        value = self.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(error or f"can't parse {name} JSON object") from None
        return value


Handler = Callable[[BotState, Params], Awaitable[Any]]


def _ok(result: Any) -> web.Response:
    if isinstance(result, Described):
        body = {"ok": True, "result": result.result, "description": result.description}
    else:
        body = {"ok": True, "result": result}
    return web.json_response(body)


def _injected_429(request: web.Request, faults: Faults) -> web.StreamResponse:
    retry = max(1, faults.retry_after)  # Telegram never advertises 0
    return ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry).response()


def _injected_5xx(request: web.Request, faults: Faults) -> web.StreamResponse:
    return ApiError(502, "Bad Gateway").response()


async def _read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON object")
            values.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            # Uploaded files are not supported: the bot only sends text.
            values.update({key: value for key, value in form.items() if isinstance(value, str)})
    return Params(values)


class TelegramDevnet(DevnetServer):
    """A local api.telegram.org for any number of bots (one per token's numeric id)."""

    name = "telegram"

    def __init__(
        self, config: TelegramDevnetConfig | None = None, faults: Faults | None = None
    ) -> None:
        self.config = config or TelegramDevnetConfig()
        self.bots: dict[int, BotState] = {}
        self.messages: list[MessageRecord] = []
        self.callback_answers: list[JSON] = []
        self._next_index = 0
        self._next_query_id = 1
        self._closing = False
        self._http: aiohttp.ClientSession | None = None
        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendchataction": self._send_chat_action,
        }
        super().__init__(faults)

    # Server plumbing.

    def middlewares(self) -> list[Any]:
        return [faults_middleware(self.faults, on_429=_injected_429, on_error=_injected_5xx)]

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method:.*}", self._handle_api)
        app.router.add_get("/_devnet/messages", self._devnet_messages)
        app.router.add_post("/_devnet/updates", self._devnet_inject)
        app.router.add_get("/_devnet/callback_answers", self._devnet_callback_answers)
        app.router.add_get("/_devnet/bots", self._devnet_bots)
        app.router.add_post("/_devnet/inline_messages", self._devnet_inline_message)
        app.router.add_post("/_devnet/reset", self._devnet_reset)
        app.router.add_get("/_devnet/config", self._devnet_get_config)
        app.router.add_post("/_devnet/config", self._devnet_set_config)

    async def on_start(self) -> None:
        self._closing = False
        self._http = aiohttp.ClientSession()

    async def on_stop(self) -> None:
        # Long polls answer at once instead of holding the shutdown for their timeout.
        self._closing = True
        for bot in self.bots.values():
            bot.wake()
            await self._stop_webhook_sender(bot)
        if self._http is not None:
            await self._http.close()
            self._http = None

    def info(self) -> dict[str, Any]:
        bot_id = int(self.config.default_token.split(":", 1)[0])
        return {
            "url": self.url,
            "api_base": self.url,
            "token": self.config.default_token,
            "bot_id": bot_id,
            "bot_username": bot_username(bot_id),
            "messages_url": f"{self.url}/_devnet/messages",
            "updates_url": f"{self.url}/_devnet/updates",
        }

    def bot(self, token: str) -> BotState:
        """The state of the bot a token belongs to (created on first use)."""
        bot = self._bot_by_id(int(token.split(":", 1)[0]))
        bot.token = token
        return bot

    def _bot_by_id(self, bot_id: int) -> BotState:
        bot = self.bots.get(bot_id)
        if bot is None:
            bot = self.bots[bot_id] = BotState(bot_id, None)
        return bot

    def _authorized(self, token: str) -> bool:
        if not TOKEN_RE.fullmatch(token):
            return False
        return self.config.tokens is None or token in self.config.tokens

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"].lower()
        if not self._authorized(token):
            return ApiError(401, "Unauthorized").response()
        handler = self._methods.get(method)
        if handler is None:
            return ApiError(404, "Not Found").response()
        try:
            params = await _read_params(request)
            result = await handler(self.bot(token), params)
        except ApiError as exc:
            return exc.response()
        if method in LOSSY_METHODS and self.faults.lose_response(method):
            return drop_connection(request)
        return _ok(result)

    # Shared pieces of the methods.

    def _chat(self, bot: BotState, p: Params, name: str = "chat_id") -> ChatState:
        raw = p.get(name)
        if raw is None:
            raise bad_request(f"{name} is empty")
        if isinstance(raw, int) and not isinstance(raw, bool) and raw != 0:
            return bot.chat(raw)
        if isinstance(raw, str):
            text = raw.strip()
            if re.fullmatch(r"-?\d+", text) and int(text) != 0:
                return bot.chat(int(text))
            if text.startswith("@") and (found := bot.find_chat_by_username(text)) is not None:
                return found
        raise bad_request("chat not found")

    def _check_blocked(self, chat_id: int) -> None:
        if chat_id in self.config.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _format(self, p: Params) -> tuple[str, list[JSON]]:
        text = p.string("text") or ""
        explicit = p.json("entities", "can't parse entities JSON object")
        try:
            return format_text(
                text,
                p.string("parse_mode"),
                explicit,
                strict_ampersand=self.config.strict_html_ampersand,
            )
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        except UnsupportedParseMode:
            raise bad_request("unsupported parse_mode") from None

    def _markup(self, p: Params, *, inline_only: bool) -> JSON | None:
        raw = p.json("reply_markup", "can't parse reply keyboard markup JSON object")
        try:
            return validate_reply_markup(raw, inline_only=inline_only)
        except MarkupError as exc:
            raise bad_request(str(exc)) from None

    def _link_preview(self, p: Params) -> JSON | None:
        options = p.json("link_preview_options", "can't parse link preview options JSON object")
        if options is not None and not isinstance(options, dict):
            raise bad_request("can't parse link preview options JSON object")
        if options is None and p.boolean("disable_web_page_preview"):
            options = {"is_disabled": True}
        return options

    def _reply_target(self, bot: BotState, chat: ChatState, p: Params) -> StoredMessage | None:
        reply = p.json("reply_parameters", "can't parse reply parameters JSON object")
        if reply is None:
            message_id = p.integer("reply_to_message_id")
            if message_id is None:
                return None
            reply = {
                "message_id": message_id,
                "allow_sending_without_reply": p.boolean("allow_sending_without_reply"),
            }
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
            raise bad_request("can't parse reply parameters JSON object")
        if reply.get("chat_id") is not None:
            chat = self._chat(bot, Params({"chat_id": reply["chat_id"]}))
        target = chat.messages.get(reply["message_id"])
        if target is None or target.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return target

    def _rate_limit(self, bot: BotState, chat_id: int | None) -> None:
        cfg = self.config
        if not cfg.rate_limits:
            return
        if bot.global_bucket is None:
            bot.global_bucket = TokenBucket(cfg.global_rate, cfg.global_burst)
        buckets = [bot.global_bucket]
        if chat_id is not None:
            chat_bucket = bot.chat_buckets.get(chat_id)
            if chat_bucket is None:
                chat_bucket = TokenBucket(cfg.per_chat_rate, cfg.per_chat_burst)
                bot.chat_buckets[chat_id] = chat_bucket
            buckets.append(chat_bucket)
            if chat_id < 0:
                group_bucket = bot.group_buckets.get(chat_id)
                if group_bucket is None:
                    group_bucket = TokenBucket(cfg.group_per_minute / 60, cfg.group_per_minute)
                    bot.group_buckets[chat_id] = group_bucket
                buckets.append(group_bucket)
        retry_after = acquire(buckets)
        if retry_after:
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    def _record(
        self,
        bot: BotState,
        message: StoredMessage,
        p: Params,
        chat_id: int | None,
        markup: JSON | None,
        inline_message_id: str | None = None,
    ) -> MessageRecord:
        record = MessageRecord(
            index=self._next_index,
            bot_id=bot.id,
            chat_id=chat_id,
            message_id=None if inline_message_id else message.message_id,
            text=p.string("text") or "",
            parse_mode=p.string("parse_mode"),
            reply_markup=markup,
            date=message.date,
            time=now_iso(),
            inline_message_id=inline_message_id,
            plain_text=message.text,
            reply_to_message_id=message.reply_to.message_id if message.reply_to else None,
            link_preview_options=message.link_preview_options,
        )
        self._next_index += 1
        self.messages.append(record)
        message.record = record
        return record

    def _edit_target(self, bot: BotState, p: Params) -> tuple[StoredMessage, bool]:
        inline_id = p.string("inline_message_id")
        if inline_id:
            found = bot.inline_messages.get(inline_id)
            if found is None:
                raise bad_request("MESSAGE_ID_INVALID")
            return found, True
        chat = self._chat(bot, p)
        message_id = p.integer("message_id", "message identifier is not specified")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message, False

    # Bot API methods.

    async def _get_me(self, bot: BotState, p: Params) -> JSON:
        return bot.user_json() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _send_message(self, bot: BotState, p: Params) -> JSON:
        chat = self._chat(bot, p)
        chat_id = chat.chat["id"]
        self._check_blocked(chat_id)
        plain, entities = self._format(p)
        if not plain:
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = self._markup(p, inline_only=False)
        preview = self._link_preview(p)
        reply_to = self._reply_target(bot, chat, p)
        self._rate_limit(bot, chat_id)
        message = StoredMessage(
            message_id=chat.allocate_id(),
            chat=chat.chat,
            sender=bot.user_json(),
            date=unix_now(),
            text=plain,
            entities=entities,
            reply_markup=markup if markup and "inline_keyboard" in markup else None,
            reply_to=reply_to,
            link_preview_options=preview,
        )
        chat.messages[message.message_id] = message
        self._record(bot, message, p, chat_id, markup)
        return message.to_json()

    async def _edit_message_text(self, bot: BotState, p: Params) -> JSON | bool:
        message, inline = self._edit_target(bot, p)
        plain, entities = self._format(p)
        if not plain:
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        # Like Telegram, an edit without reply_markup removes the inline keyboard.
        markup = self._markup(p, inline_only=True)
        preview = self._link_preview(p)
        if (plain, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        self._rate_limit(bot, None if inline else message.chat["id"])
        message.text, message.entities, message.reply_markup = plain, entities, markup
        message.edit_date = unix_now()
        if preview is not None:
            message.link_preview_options = preview
        assert message.record is not None  # only the bot's own messages get here
        message.record.plain_text = plain
        message.record.edits.append(
            {
                "kind": "text",
                "text": p.string("text") or "",
                "parse_mode": p.string("parse_mode"),
                "plain_text": plain,
                "reply_markup": markup,
                "time": now_iso(),
            }
        )
        return True if inline else message.to_json()

    async def _edit_message_reply_markup(self, bot: BotState, p: Params) -> JSON | bool:
        message, inline = self._edit_target(bot, p)
        markup = self._markup(p, inline_only=True)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        message.reply_markup = markup
        message.edit_date = unix_now()
        record = message.record
        assert record is not None
        last = record.edits[-1] if record.edits else {"text": record.text}
        record.edits.append(
            {
                "kind": "reply_markup",
                "text": last["text"],
                "parse_mode": last.get("parse_mode", record.parse_mode),
                "plain_text": message.text,
                "reply_markup": markup,
                "time": now_iso(),
            }
        )
        return True if inline else message.to_json()

    async def _delete_message(self, bot: BotState, p: Params) -> bool:
        chat = self._chat(bot, p)
        message_id = p.integer("message_id", "message identifier is not specified")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        message.deleted = True
        if message.record is not None:
            message.record.deleted = True
        return True

    async def _answer_callback_query(self, bot: BotState, p: Params) -> bool:
        query_id = p.string("callback_query_id") or ""
        state = bot.callback_queries.get(query_id)
        if state is None or state.answered:
            raise bad_request(QUERY_INVALID)
        text = p.string("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        state.answered = True
        self.callback_answers.append(
            {
                "bot_id": bot.id,
                "callback_query_id": query_id,
                "text": text,
                "show_alert": p.boolean("show_alert"),
                "url": p.string("url"),
                "cache_time": p.integer("cache_time") or 0,
                "time": now_iso(),
            }
        )
        return True

    def _parse_allowed_updates(self, raw: Any) -> frozenset[str]:
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise bad_request("can't parse allowed_updates JSON object")
        chosen = frozenset(raw) & frozenset(UPDATE_TYPES)
        return chosen or DEFAULT_ALLOWED_UPDATES

    async def _get_updates(self, bot: BotState, p: Params) -> list[JSON]:
        webhook_conflict = ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
        if bot.webhook is not None:
            raise webhook_conflict
        offset = p.integer("offset") or 0
        limit = min(100, max(1, p.integer("limit") or 100))
        timeout = min(self.config.max_poll_timeout, max(0, p.integer("timeout") or 0))
        allowed = p.json("allowed_updates")
        if allowed is not None:
            bot.allowed_updates = self._parse_allowed_updates(allowed)
        bot.confirm(offset)
        # A newer getUpdates ends an older one with 409, as when two bot instances poll.
        bot.poll_generation += 1
        generation = bot.poll_generation
        bot.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if bot.poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if bot.webhook is not None:
                raise webhook_conflict
            if bot.updates or self._closing:
                return copy.deepcopy(bot.updates[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            wakeup = bot.wakeup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)

    async def _set_webhook(self, bot: BotState, p: Params) -> Described:
        url = p.string("url") or ""
        if not url:
            return await self._delete_webhook(bot, p)
        parts = urlsplit(url)
        # Telegram requires HTTPS on ports 443/80/88/8443; local test servers are plain HTTP.
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.string("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = min(100, max(1, p.integer("max_connections") or 40))
        allowed = p.json("allowed_updates")
        if allowed is not None:
            bot.allowed_updates = self._parse_allowed_updates(allowed)
        if p.boolean("drop_pending_updates"):
            bot.updates.clear()
        previous = bot.webhook
        same = previous is not None and (previous.url, previous.secret_token) == (url, secret)
        bot.webhook = Webhook(url, secret, max_connections, p.string("ip_address"))
        if bot.webhook_task is None or bot.webhook_task.done():
            bot.webhook_task = asyncio.create_task(self._webhook_sender(bot))
        bot.wake()
        return Described(True, "Webhook is already set" if same else "Webhook was set")

    async def _delete_webhook(self, bot: BotState, p: Params) -> Described:
        had_webhook = bot.webhook is not None
        bot.webhook = None
        await self._stop_webhook_sender(bot)
        if p.boolean("drop_pending_updates"):
            bot.updates.clear()
        bot.wake()
        return Described(
            True, "Webhook was deleted" if had_webhook else "Webhook is already deleted"
        )

    async def _get_webhook_info(self, bot: BotState, p: Params) -> JSON:
        hook = bot.webhook
        info: JSON = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            if bot.allowed_updates != DEFAULT_ALLOWED_UPDATES:
                info["allowed_updates"] = sorted(bot.allowed_updates)
        return info

    def _commands_key(self, p: Params) -> tuple[str, str]:
        scope = p.json("scope", "can't parse BotCommandScope JSON object") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), p.string("language_code") or ""

    async def _set_my_commands(self, bot: BotState, p: Params) -> bool:
        commands = p.json("commands", "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands")
        cleaned: list[JSON] = []
        for item in commands:
            if not isinstance(item, dict):
                raise bad_request("can't parse BotCommand JSON object")
            command, description = item.get("command"), item.get("description")
            if not isinstance(command, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", command):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command, "description": description})
        key = self._commands_key(p)
        if cleaned:
            bot.commands[key] = cleaned
        else:
            bot.commands.pop(key, None)
        return True

    async def _get_my_commands(self, bot: BotState, p: Params) -> list[JSON]:
        return copy.deepcopy(bot.commands.get(self._commands_key(p), []))

    async def _delete_my_commands(self, bot: BotState, p: Params) -> bool:
        bot.commands.pop(self._commands_key(p), None)
        return True

    async def _send_chat_action(self, bot: BotState, p: Params) -> bool:
        chat = self._chat(bot, p)
        self._check_blocked(chat.chat["id"])
        if p.string("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    # Webhook delivery.

    async def _stop_webhook_sender(self, bot: BotState) -> None:
        task, bot.webhook_task = bot.webhook_task, None
        # A webhook reply may itself call deleteWebhook from inside the sender task.
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _webhook_sender(self, bot: BotState) -> None:
        """Posts queued updates one at a time, in order; retries with backoff, like Telegram."""
        delay = self.config.webhook_retry_delay
        while (hook := bot.webhook) is not None and not self._closing:
            if not bot.updates:
                await bot.wakeup.wait()
                continue
            update = bot.updates[0]
            error, reply = await self._post_update(hook, update)
            if error is None:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.pop(0)
                delay = self.config.webhook_retry_delay
                if reply is not None:
                    await self._run_webhook_reply(bot, reply)
                continue
            hook.last_error_date = unix_now()
            hook.last_error_message = error
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _post_update(self, hook: Webhook, update: JSON) -> tuple[str | None, JSON | None]:
        """(error, method call in the reply): Telegram runs a method a webhook answers with."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers: dict[str, str] = {}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        try:
            async with self._http.post(
                hook.url,
                json=update,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.config.webhook_timeout),
            ) as resp:
                if not 200 <= resp.status < 300:
                    return f"Wrong response from the webhook: {resp.status} {resp.reason}", None
                return None, await _read_webhook_reply(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"Connection error: {type(exc).__name__}: {exc}", None

    async def _run_webhook_reply(self, bot: BotState, reply: JSON) -> None:
        method = str(reply.pop("method", "")).lower()
        handler = self._methods.get(method)
        if handler is None or method == "getupdates":
            return
        with contextlib.suppress(ApiError):  # Telegram ignores errors of webhook replies
            await handler(bot, Params(reply))

    # Devnet endpoints.

    async def _devnet_messages(self, request: web.Request) -> web.Response:
        try:
            chat_id = _int_query(request, "chat_id")
            bot_id = _int_query(request, "bot_id")
            since = _int_query(request, "since_index")
        except ValueError as exc:
            return _devnet_error(str(exc))
        found = [
            record.to_json()
            for record in self.messages
            if (chat_id is None or record.chat_id == chat_id)
            and (bot_id is None or record.bot_id == bot_id)
            and (since is None or record.index >= since)
        ]
        return web.json_response(found)

    async def _devnet_callback_answers(self, request: web.Request) -> web.Response:
        try:
            bot_id = _int_query(request, "bot_id")
        except ValueError as exc:
            return _devnet_error(str(exc))
        return web.json_response(
            [a for a in self.callback_answers if bot_id is None or a["bot_id"] == bot_id]
        )

    async def _devnet_bots(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "bot_id": bot.id,
                    "username": bot.username,
                    "token": bot.token,
                    "webhook_url": bot.webhook.url if bot.webhook else None,
                    "allowed_updates": sorted(bot.allowed_updates),
                    "pending_updates": bot.updates,
                }
                for bot in self.bots.values()
            ]
        )

    async def _devnet_reset(self, request: web.Request) -> web.Response:
        """Clears messages, updates, callback answers and flood state; bots keep their webhook,
        commands and update_id sequence (so a running poller's offset stays valid)."""
        for bot in self.bots.values():
            bot.clear()
        self.messages.clear()
        self.callback_answers.clear()
        return web.json_response({"ok": True})

    async def _devnet_get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self.config.model_dump())

    async def _devnet_set_config(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            fresh = TelegramDevnetConfig.model_validate(self.config.model_dump() | body)
        except (ValueError, ValidationError) as exc:
            return _devnet_error(str(exc))
        for name in TelegramDevnetConfig.model_fields:
            setattr(self.config, name, getattr(fresh, name))
        for bot in self.bots.values():  # new rates take effect with fresh buckets
            bot.chat_buckets.clear()
            bot.group_buckets.clear()
            bot.global_bucket = None
        return web.json_response(self.config.model_dump())

    async def _devnet_inject(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise InjectError("expected a JSON object")
            bot = self._select_bot(body)
            update, extra = self._build_update(bot, body)
        except (InjectError, ValueError, TypeError) as exc:
            return _devnet_error(str(exc))
        queued = bot.push_update(update)
        return web.json_response(
            {"ok": True, "update_id": update["update_id"], "bot_id": bot.id, "queued": queued}
            | extra
        )

    async def _devnet_inline_message(self, request: web.Request) -> web.Response:
        """Creates a message "sent via" the bot in inline mode, so inline_message_id edits and
        callback queries can be exercised; returns its inline_message_id."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise InjectError("expected a JSON object")
            bot = self._select_bot(body)
            p = Params({k: body[k] for k in ("text", "parse_mode", "reply_markup") if k in body})
            plain, entities = self._format(p)
            markup = self._markup(p, inline_only=True)
        except ApiError as exc:
            return _devnet_error(exc.description)
        except (InjectError, ValueError, TypeError) as exc:
            return _devnet_error(str(exc))
        if not plain:
            return _devnet_error("text is required")
        inline_id = f"devnet-inline-{bot.id}-{len(bot.inline_messages) + 1}"
        message = StoredMessage(
            message_id=0,
            chat={},
            sender=bot.user_json(),
            date=unix_now(),
            text=plain,
            entities=entities,
            reply_markup=markup,
        )
        bot.inline_messages[inline_id] = message
        self._record(bot, message, p, None, markup, inline_message_id=inline_id)
        return web.json_response({"ok": True, "inline_message_id": inline_id})

    # Update injection.

    def _select_bot(self, body: JSON) -> BotState:
        token = body.get("token")
        if token is not None:
            if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
                raise InjectError("token is not a bot token")
            return self.bot(token)
        if body.get("bot_id") is not None:
            return self._bot_by_id(int(body["bot_id"]))
        if self.bots:
            return next(iter(self.bots.values()))
        return self.bot(self.config.default_token)

    def _build_update(self, bot: BotState, body: JSON) -> tuple[JSON, JSON]:
        kinds = [key for key in body if key in UPDATE_TYPES]
        if kinds:
            return self._full_update(bot, body, kinds)
        if "callback_data" in body:
            return self._callback_update(bot, body)
        if "text" in body:
            return self._message_update(bot, body)
        raise InjectError("expected an Update object, or a shorthand with text or callback_data")

    def _user(self, bot: BotState, body: JSON) -> tuple[int, JSON]:
        raw_chat: Any = body.get("chat_id")
        raw_from: Any = body.get("from_id")
        if raw_chat is None and raw_from is None:
            raise InjectError("chat_id or from_id is required")
        chat_id = int(raw_chat if raw_chat is not None else raw_from)
        from_id = int(raw_from if raw_from is not None else chat_id)
        if from_id <= 0:
            raise InjectError("from_id must be a user id (a positive integer)")
        user: JSON = {
            "id": from_id,
            "is_bot": False,
            "first_name": body.get("first_name") or f"User {from_id}",
        }
        for key in ("last_name", "username"):
            if body.get(key):
                user[key] = body[key]
        user["language_code"] = body.get("language_code") or "en"
        bot.users[from_id] = user
        chat = bot.chat(chat_id)
        if chat_id > 0:
            chat.chat.update(chat_json(chat_id, user))
        return chat_id, user

    def _message_update(self, bot: BotState, body: JSON) -> tuple[JSON, JSON]:
        text = body["text"]
        if not isinstance(text, str) or not text:
            raise InjectError("text must be a non-empty string")
        chat_id, user = self._user(bot, body)
        chat = bot.chat(chat_id)
        entities = body.get("entities")
        message = StoredMessage(
            message_id=chat.allocate_id(),
            chat=dict(chat.chat),
            sender=user,
            date=unix_now(),
            text=text,
            entities=entities if isinstance(entities, list) else detect_entities(text),
        )
        if body.get("reply_to_message_id") is not None:
            message.reply_to = chat.messages.get(int(body["reply_to_message_id"]))
        chat.messages[message.message_id] = message
        return {"message": message.to_json()}, {"message_id": message.message_id}

    def _new_query_id(self, bot: BotState) -> str:
        query_id = f"{bot.id}{self._next_query_id:08d}"
        self._next_query_id += 1
        return query_id

    def _callback_update(self, bot: BotState, body: JSON) -> tuple[JSON, JSON]:
        data = body["callback_data"]
        if not isinstance(data, str):
            raise InjectError("callback_data must be a string")
        chat_id, user = self._user(bot, body)
        query: JSON = {"id": self._new_query_id(bot), "from": user}
        inline_id = body.get("inline_message_id")
        if inline_id is not None:
            if inline_id not in bot.inline_messages:
                raise InjectError(f"unknown inline_message_id {inline_id}")
            query["inline_message_id"] = inline_id
        else:
            chat = bot.chat(chat_id)
            message_id = body.get("message_id")
            if message_id is None:
                # The latest bot message in the chat that has a button with this data.
                with_button = [
                    m
                    for m in chat.messages.values()
                    if m.from_bot and not m.deleted and data in m.callback_data()
                ]
                if not with_button:
                    raise InjectError(f"no bot message in chat {chat_id} has a {data!r} button")
                message_id = with_button[-1].message_id
            message = chat.messages.get(int(message_id))
            if message is None or message.deleted:
                raise InjectError(f"message {message_id} not found in chat {chat_id}")
            query["message"] = message.to_json()
        query["chat_instance"] = str((bot.id * 1_000_003 + chat_id) & 0x7FFFFFFFFFFFFFFF)
        query["data"] = data
        bot.callback_queries[query["id"]] = CallbackQueryState(query["id"])
        extra: JSON = {"callback_query_id": query["id"]}
        if "message" in query:
            extra["message_id"] = query["message"]["message_id"]
        return {"callback_query": query}, extra

    def _full_update(self, bot: BotState, body: JSON, kinds: list[str]) -> tuple[JSON, JSON]:
        if len(kinds) != 1:
            raise InjectError(f"an Update carries exactly one of its fields, got {kinds}")
        kind = kinds[0]
        payload = copy.deepcopy(body[kind])
        if not isinstance(payload, dict):
            raise InjectError(f"{kind} must be an object")
        extra: JSON = {}
        if kind in MESSAGE_KINDS:
            chat = payload.get("chat")
            if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
                raise InjectError(f"{kind}.chat.id is required")
            state = bot.chat(chat["id"])
            chat.setdefault("type", chat_json(chat["id"])["type"])
            if isinstance(payload.get("from"), dict) and isinstance(payload["from"].get("id"), int):
                bot.users[payload["from"]["id"]] = payload["from"]
            if kind in NEW_MESSAGE_KINDS:
                if "message_id" not in payload:
                    payload["message_id"] = state.allocate_id()
                state.next_message_id = max(state.next_message_id, int(payload["message_id"]) + 1)
            payload.setdefault("date", unix_now())
            text = payload.get("text")
            if (
                isinstance(text, str)
                and "entities" not in payload
                and (found := detect_entities(text))
            ):
                payload["entities"] = found  # Telegram always marks commands, links, mentions
            if kind in NEW_MESSAGE_KINDS:
                state.messages[payload["message_id"]] = StoredMessage(
                    message_id=payload["message_id"],
                    chat=chat,
                    sender=payload.get("from") or {},
                    date=payload["date"],
                    text=payload.get("text", ""),
                    raw=payload,
                )
            extra["message_id"] = payload.get("message_id")
        if kind == "callback_query":
            payload.setdefault("id", self._new_query_id(bot))
            payload.setdefault("chat_instance", "0")
            bot.callback_queries[str(payload["id"])] = CallbackQueryState(str(payload["id"]))
            extra["callback_query_id"] = payload["id"]
        return {kind: payload}, extra


async def _read_webhook_reply(resp: aiohttp.ClientResponse) -> JSON | None:
    """A method call in a webhook's answer: JSON, or the multipart form aiogram writes."""
    if resp.content_type == "application/json":
        with contextlib.suppress(ValueError):
            body = await resp.json()
            if isinstance(body, dict) and body.get("method"):
                return body
        return None
    if resp.content_type.startswith("multipart/"):
        fields: JSON = {}
        reader = aiohttp.MultipartReader(resp.headers, resp.content)
        while (part := await reader.next()) is not None:
            if isinstance(part, aiohttp.BodyPartReader) and part.name:
                fields[part.name] = await part.text()
        return fields if fields.get("method") else None
    return None


def _int_query(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None


def _devnet_error(message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=400)
