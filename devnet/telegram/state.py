"""In-memory state of the Telegram stand-in: bots, their chats, messages and update queues."""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devnet.telegram.ratelimit import TokenBucket

JSON = dict[str, Any]

# Update types Telegram delivers when allowed_updates is empty or was never set.
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_TYPES) - OPT_IN_UPDATE_TYPES


def now_iso() -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-01-02T03:04:05.678Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bot_username(bot_id: int) -> str:
    return f"devnet_{bot_id}_bot"


def chat_json(chat_id: int, user: JSON | None = None) -> JSON:
    """A Chat object; the type follows Telegram's id ranges (-100... ids are supergroups)."""
    if chat_id > 0:
        chat: JSON = {"id": chat_id, "first_name": f"User {chat_id}", "type": "private"}
        if user is not None:
            chat["first_name"] = user.get("first_name") or chat["first_name"]
            for key in ("last_name", "username"):
                if user.get(key):
                    chat[key] = user[key]
        return chat
    kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
    return {"id": chat_id, "title": f"Group {chat_id}", "type": kind}


@dataclass
class MessageRecord:
    """One message a bot sent, as `GET /_devnet/messages` shows it."""

    index: int
    bot_id: int
    chat_id: int | None
    message_id: int | None
    text: str
    parse_mode: str | None
    reply_markup: JSON | None
    date: int
    time: str
    inline_message_id: str | None = None
    plain_text: str = ""
    reply_to_message_id: int | None = None
    link_preview_options: JSON | None = None
    edits: list[JSON] = field(default_factory=list)
    deleted: bool = False

    def to_json(self) -> JSON:
        data = {
            "index": self.index,
            "bot_id": self.bot_id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "text": self.text,
            "parse_mode": self.parse_mode,
            "reply_markup": self.reply_markup,
            "date": self.date,
            "time": self.time,
            "plain_text": self.plain_text,
            "reply_to_message_id": self.reply_to_message_id,
            "link_preview_options": self.link_preview_options,
            "edits": copy.deepcopy(self.edits),
            "deleted": self.deleted,
        }
        if self.inline_message_id is not None:
            data["inline_message_id"] = self.inline_message_id
        return data


@dataclass
class StoredMessage:
    """A message in a chat (the bot's or a user's), enough to rebuild its Message object."""

    message_id: int
    chat: JSON
    sender: JSON
    date: int
    text: str
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None  # inline keyboards only: other markups are not echoed
    edit_date: int | None = None
    reply_to: StoredMessage | None = None
    link_preview_options: JSON | None = None
    record: MessageRecord | None = None  # set for messages the bot sent
    raw: JSON | None = None  # a message injected as a full Update is returned as given
    deleted: bool = False

    @property
    def from_bot(self) -> bool:
        return self.record is not None

    def to_json(self, *, with_reply: bool = True) -> JSON:
        if self.raw is not None:
            return copy.deepcopy(self.raw)
        data: JSON = {
            "message_id": self.message_id,
            "from": dict(self.sender),
            "chat": dict(self.chat),
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            # Telegram never nests reply_to_message inside a reply_to_message.
            data["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        data["text"] = self.text
        if self.entities:
            data["entities"] = copy.deepcopy(self.entities)
        if self.link_preview_options:
            data["link_preview_options"] = dict(self.link_preview_options)
        if self.reply_markup:
            data["reply_markup"] = copy.deepcopy(self.reply_markup)
        return data

    def callback_data(self) -> list[str]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


@dataclass
class ChatState:
    chat: JSON
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)

    def allocate_id(self) -> int:
        # Users' and the bot's messages share one sequence per chat, as in Telegram.
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class CallbackQueryState:
    query_id: str
    answered: bool = False


class BotState:
    """Everything one bot (one numeric bot id) has: chats, updates, webhook, commands."""

    def __init__(self, bot_id: int, token: str | None) -> None:
        self.id = bot_id
        self.token = token
        self.username = bot_username(bot_id)
        self.first_name = "Devnet Bot"
        self.next_update_id = 1  # never reset, so a running poller's offset stays meaningful
        self.poll_generation = 0
        self.webhook: Webhook | None = None
        self.webhook_task: asyncio.Task[None] | None = None
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self._wakeup = asyncio.Event()
        self.clear()

    def clear(self) -> None:
        """Drops messages, updates and flood state; keeps webhook, commands and update ids."""
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, JSON] = {}
        self.updates: list[JSON] = []
        self.callback_queries: dict[str, CallbackQueryState] = {}
        self.inline_messages: dict[str, StoredMessage] = {}
        self.chat_buckets: dict[int, TokenBucket] = {}
        self.group_buckets: dict[int, TokenBucket] = {}
        self.global_bucket: TokenBucket | None = None
        self.wake()

    def user_json(self) -> JSON:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def chat(self, chat_id: int) -> ChatState:
        state = self.chats.get(chat_id)
        if state is None:
            state = self.chats[chat_id] = ChatState(chat_json(chat_id, self.users.get(chat_id)))
        return state

    def find_chat_by_username(self, username: str) -> ChatState | None:
        name = username.lstrip("@").lower()
        for state in self.chats.values():
            if str(state.chat.get("username", "")).lower() == name:
                return state
        return None

    # Update queue and long-poll wake-ups.

    def wake(self) -> None:
        """Wakes every long poll and the webhook sender; they re-check the state."""
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    @property
    def wakeup(self) -> asyncio.Event:
        return self._wakeup

    def push_update(self, update: JSON) -> bool:
        """Assigns update_id and queues the update unless allowed_updates filters it out."""
        update["update_id"] = self.next_update_id
        self.next_update_id += 1
        kind = next((key for key in update if key != "update_id"), "")
        if kind not in self.allowed_updates:
            return False
        self.updates.append(update)
        self.wake()
        return True

    def confirm(self, offset: int) -> None:
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]


def unix_now() -> int:
    return int(time.time())
