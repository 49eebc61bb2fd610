"""Message formatting the way the Bot API does it: parse_mode parsing and entity detection.

The parsers follow TDLib's (`td/telegram/MessageEntity.cpp`), which is what api.telegram.org
runs, so markup that Telegram rejects is rejected here with the same "can't parse entities"
reasons, and accepted markup yields the same plain text and entities. Offsets and lengths are
in UTF-16 code units, as in the Bot API.

One deliberate strictness: with `strict_ampersand` (the devnet default) a bare `&` that is not
an HTML entity is an error. Telegram keeps it literally, but its documentation says it must be
escaped, and unescaped user text is exactly the bug this catches.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Entity = dict[str, Any]

HTML_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins"}
    | {"tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote"}
)
_SIMPLE_HTML = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
# TDLib prints entity types by their C++ names in "Can't find end of ... entity" errors.
_TDLIB_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


class EntityParseError(ValueError):
    """The text is rejected; str(error) is the reason after "can't parse entities: "."""


class UnsupportedParseMode(ValueError):
    """parse_mode is none of HTML, MarkdownV2, Markdown."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    # Telegram reports positions in UTF-8 bytes of the original text.
    return len(text[:index].encode("utf-8", "surrogatepass"))


def check_link(url: str) -> str | None:
    """The URL Telegram would keep for a text link or URL button, or None if it is invalid."""
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    scheme_match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme in ("tg", "ton"):
            return url
        if scheme not in ("http", "https") or not url[len(scheme) + 1 :].startswith("//"):
            return None
    else:
        url = "http://" + url
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host or not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]", host):
        return None
    return url


def _link_entity(url: str, offset: int, length: int) -> Entity | None:
    user = re.fullmatch(r"tg://user\?id=(\d+)", url.strip())
    if user:
        user_json = {"id": int(user.group(1)), "is_bot": False, "first_name": ""}
        return {"type": "text_mention", "offset": offset, "length": length, "user": user_json}
    checked = check_link(url)
    if checked is None:
        return None  # Telegram silently drops links it cannot use instead of failing
    return {"type": "text_link", "offset": offset, "length": length, "url": checked}


class _Out:
    """The plain text being built, with its running UTF-16 length."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.offset += utf16_len(chunk)

    def text(self) -> str:
        return "".join(self.parts)


def _decode_html_entity(text: str, pos: int) -> tuple[str | None, int]:
    """TDLib's decode_html_entity: &lt; &gt; &amp; &quot; and numeric references, ';' optional."""
    end = pos + 1
    n = len(text)
    if end < n and text[end] == "#":
        end += 1
        if end < n and text[end] == "x":
            end += 1
            start = end
            while end < n and text[end] in string.hexdigits:
                end += 1
            code = int(text[start:end], 16) if end > start else 0
        else:
            start = end
            while end < n and text[end] in string.digits:
                end += 1
            code = int(text[start:end]) if end > start else 0
        if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return None, pos
        char = chr(code)
    else:
        start = end
        while end < n and text[end] in string.ascii_letters:
            end += 1
        named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(text[start:end])
        if named is None:
            return None, pos
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


@dataclass
class _OpenTag:
    tag: str
    argument: str
    offset: int
    part_index: int
    expandable: bool = False


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[Entity]]:
    """Plain text and entities of an HTML-formatted message, or EntityParseError."""
    out = _Out()
    stack: list[_OpenTag] = []
    entities: list[Entity] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded, after = _decode_html_entity(text, i)
            if decoded is not None:
                out.add(decoded)
                i = after
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Unescaped "&" at byte offset {_byte_offset(text, i)} '
                    "(devnet strict_html_ampersand: write &amp;)"
                )
        if c != "<":
            out.add(c)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            close = text.find(">", i)
            if close < 0:
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, begin)}"
                )
            end_name = text[i + 1 : close].lower()
            opened = stack[-1]
            if end_name and end_name != opened.tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{opened.tag}>", found "</{end_name}>"'
                )
            i = close + 1
            stack.pop()
            _close_html_tag(opened, out, entities, stack)
            continue

        name_start = i
        while i < n and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[name_start:i].lower()
        if tag not in HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        argument, expandable, i = _parse_html_attributes(text, i, tag, begin)
        if tag == "span" and argument != "spoiler":
            where = _byte_offset(text, begin)
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {where}'
            )
        stack.append(_OpenTag(tag, argument, out.offset, len(out.parts), expandable))

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    for entity in entities:
        entity.pop("_language", None)
    return out.text(), entities


def _parse_html_attributes(text: str, i: int, tag: str, begin: int) -> tuple[str, bool, int]:
    """Reads attributes up to and including '>'; returns (argument, expandable, next index)."""
    n = len(text)
    argument = ""
    expandable = False
    where = f"at byte offset {_byte_offset(text, begin)}"
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag {where}")
        if text[i] == ">":
            return argument, expandable, i + 1
        name_start = i
        while i < n and not text[i].isspace() and text[i] not in "=>":
            i += 1
        attribute = text[name_start:i].lower()
        if not attribute:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" {where}')
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] != "=":
            if tag == "blockquote" and attribute == "expandable":
                expandable = True
                continue
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" {where}'
            )
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f'Unclosed start tag "{tag}" {where}')
        if text[i] in "'\"":
            quote = text[i]
            i += 1
            value_parts: list[str] = []
            while i < n and text[i] != quote:
                if text[i] == "&":
                    decoded, after = _decode_html_entity(text, i)
                    if decoded is not None:
                        value_parts.append(decoded)
                        i = after
                        continue
                value_parts.append(text[i])
                i += 1
            if i < n:
                i += 1
            value = "".join(value_parts)
        else:
            token_start = i
            while i < n and (text[i].isalnum() or text[i] in ".-"):
                i += 1
            value = text[token_start:i].lower()
            if i < n and not text[i].isspace() and text[i] != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, token_start)}"
                )
        if i >= n:
            raise EntityParseError(f"Unclosed start tag {where}")
        if tag == "a" and attribute == "href":
            argument = value
        elif tag == "code" and attribute == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif tag == "span" and attribute == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif tag == "tg-emoji" and attribute == "emoji-id":
            argument = value
        elif tag == "blockquote" and attribute == "expandable":
            expandable = True


def _close_html_tag(
    opened: _OpenTag, out: _Out, entities: list[Entity], stack: list[_OpenTag]
) -> None:
    offset = opened.offset
    length = out.offset - offset
    if length <= 0:
        return  # TDLib drops empty entities
    tag = opened.tag
    if tag in _SIMPLE_HTML:
        entities.append({"type": _SIMPLE_HTML[tag], "offset": offset, "length": length})
    elif tag == "a":
        url = opened.argument or "".join(out.parts[opened.part_index :])
        link = _link_entity(url, offset, length)
        if link is not None:
            entities.append(link)
    elif tag == "tg-emoji":
        if not opened.argument.isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": opened.argument,
            }
        )
    elif tag == "blockquote":
        kind = "expandable_blockquote" if opened.expandable else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
    elif tag == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and (last["offset"], last["length"]) == (offset, length)
            and last.get("_language")
        ):
            # <pre><code class="language-x">...</code></pre> is one pre entity with a language
            last["type"] = "pre"
            last["language"] = last.pop("_language")
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "pre"
            and (last["offset"], last["length"]) == (offset, length)
            and opened.argument
        ):
            last["language"] = opened.argument
        else:
            entity: Entity = {"type": "code", "offset": offset, "length": length}
            if opened.argument and stack and stack[-1].tag == "pre":
                entity["_language"] = opened.argument
            entities.append(entity)


@dataclass
class _OpenMd:
    kind: str
    offset: int
    byte_offset: int
    part_index: int
    argument: str = ""


@dataclass
class _Quote:
    offset: int
    expandable: bool
    end: int = -1
    closed: bool = field(default=False)


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    """Plain text and entities of a MarkdownV2 message, or EntityParseError."""
    out = _Out()
    stack: list[_OpenMd] = []
    entities: list[Entity] = []
    quote: _Quote | None = None
    n = len(text)
    i = 0

    def reserved_error(ch: str) -> EntityParseError:
        return EntityParseError(
            f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
        )

    def close_quote() -> None:
        nonlocal quote
        if quote is not None and out.offset > quote.offset:
            kind = "expandable_blockquote" if quote.expandable else "blockquote"
            length = (quote.end if quote.end >= 0 else out.offset) - quote.offset
            entities.append({"type": kind, "offset": quote.offset, "length": length})
        quote = None

    while i < n:
        at_line_start = i == 0 or text[i - 1] == "\n"
        if at_line_start and not stack:
            # Block quotes are line prefixes: '>' (or '**>' for an expandable one) on each line.
            if text.startswith("**>", i) or text[i] == ">":
                marker = 3 if text[i] == "*" else 1
                if quote is None:
                    quote = _Quote(out.offset, expandable=marker == 3)
                else:
                    quote.end = -1
                i += marker
                continue
            if quote is not None:
                close_quote()
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "\\" and nxt and 0 < ord(nxt) <= 126:
            out.add(nxt)
            i += 2
            continue
        in_code = bool(stack) and stack[-1].kind in ("code", "pre", "pre_code")
        reserved = "`" if in_code else _MDV2_RESERVED
        if c not in reserved:
            if c == "\n" and quote is not None:
                quote.end = out.offset  # the quote ends before the newline unless '>' follows
            out.add(c)
            i += 1
            continue
        if (
            quote is not None
            and quote.expandable
            and not stack
            and text.startswith("||", i)
            and (i + 2 == n or text[i + 2] == "\n")
        ):
            i += 2  # '||' at the end of an expandable quote closes it
            quote.end = out.offset
            continue

        closing = stack and _md_closes(stack[-1].kind, text, i)
        if not closing:
            i = _md_open(text, i, out, stack, reserved_error)
            continue

        opened = stack.pop()
        kind = opened.kind
        skip = out.offset == opened.offset
        entity: Entity | None = None
        if kind in ("underline", "spoiler"):
            i += 2
        elif kind in ("pre", "pre_code"):
            i += 3
        elif kind in ("text_link", "custom_emoji"):
            url, i = _md_read_url(text, i, out, opened, kind)
            if kind == "custom_emoji":
                emoji = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                if emoji is None:
                    raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                opened.argument = emoji.group(1)
            elif not skip:
                entity = _link_entity(url, opened.offset, out.offset - opened.offset)
                skip = entity is None
        else:
            i += 1
        if skip:
            continue
        length = out.offset - opened.offset
        if entity is None:
            entity = {"type": "pre" if kind == "pre_code" else kind, "offset": opened.offset}
            entity["length"] = length
            if kind == "pre_code":
                entity["language"] = opened.argument
            if kind == "custom_emoji":
                entity["custom_emoji_id"] = opened.argument
        entities.append(entity)

    if stack:
        opened = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_TDLIB_NAMES.get(opened.kind, opened.kind)} entity "
            f"at byte offset {opened.byte_offset}"
        )
    close_quote()
    return out.text(), entities


def _md_closes(kind: str, text: str, i: int) -> bool:
    c = text[i]
    nxt = text[i + 1 : i + 2]
    if kind == "bold":
        return c == "*"
    if kind == "italic":
        return c == "_" and nxt != "_"
    if kind == "code":
        return c == "`"
    if kind in ("pre", "pre_code"):
        return text.startswith("```", i)
    if kind in ("text_link", "custom_emoji"):
        return c == "]"
    if kind == "underline":
        return text.startswith("__", i)
    if kind == "strikethrough":
        return c == "~"
    if kind == "spoiler":
        return text.startswith("||", i)
    return False


def _md_open(text: str, i: int, out: _Out, stack: list[_OpenMd], reserved_error: Any) -> int:
    """Starts the entity whose marker is at text[i]; returns the index after the marker."""
    c = text[i]
    n = len(text)
    byte_offset = _byte_offset(text, i)
    argument = ""
    if c == "_":
        kind, i = ("underline", i + 2) if text.startswith("__", i) else ("italic", i + 1)
    elif c == "*":
        kind, i = "bold", i + 1
    elif c == "~":
        kind, i = "strikethrough", i + 1
    elif c == "|":
        if not text.startswith("||", i):
            raise reserved_error(c)
        kind, i = "spoiler", i + 2
    elif c == "[":
        kind, i = "text_link", i + 1
    elif c == "!":
        if not text.startswith("![", i):
            raise reserved_error(c)
        kind, i = "custom_emoji", i + 2
    elif c == "`":
        if text.startswith("```", i):
            i += 3
            kind = "pre"
            lang_end = i
            while lang_end < n and not text[lang_end].isspace() and text[lang_end] != "`":
                lang_end += 1
            if lang_end != i and lang_end < n and text[lang_end] != "`":
                kind, argument, i = "pre_code", text[i:lang_end], lang_end
            i = _skip_one_newline(text, i)
        else:
            kind, i = "code", i + 1
    else:
        raise reserved_error(c)
    stack.append(_OpenMd(kind, out.offset, byte_offset, len(out.parts), argument))
    return i


def _skip_one_newline(text: str, i: int) -> int:
    if i < len(text) and text[i] in "\r\n":
        if i + 1 < len(text) and text[i + 1] in "\r\n" and text[i] != text[i + 1]:
            return i + 2
        return i + 1
    return i


def _md_read_url(text: str, i: int, out: _Out, opened: _OpenMd, kind: str) -> tuple[str, int]:
    """At ']' of a link: reads '(url)' (with backslash escapes); returns (url, next index)."""
    n = len(text)
    if i + 1 >= n or text[i + 1] != "(":
        if kind == "custom_emoji":
            raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
        return "".join(out.parts[opened.part_index :]), i + 1
    i += 2
    url_begin = i
    url: list[str] = []
    while i < n and text[i] != ")":
        if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            url.append(text[i + 1])
            i += 2
            continue
        url.append(text[i])
        i += 1
    if i >= n:
        raise EntityParseError(
            f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
        )
    return "".join(url), i + 1


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out = _Out()
    entities: list[Entity] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        i += 1
        is_pre = False
        language = ""
        if c == "`" and text.startswith("``", i):
            i += 2
            is_pre = True
            lang_end = i
            while lang_end < n and not text[lang_end].isspace() and text[lang_end] != "`":
                lang_end += 1
            if lang_end != i and lang_end < n and text[lang_end] != "`":
                language, i = text[i:lang_end], lang_end
            i = _skip_one_newline(text, i)
        offset = out.offset
        part_index = len(out.parts)
        while i < n and (text[i] != end_char or (is_pre and not text.startswith("```", i))):
            out.add(text[i])
            i += 1
        if i >= n:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        length = out.offset - offset
        if c == "[":
            url = "".join(out.parts[part_index:])
            if i + 1 < n and text[i + 1] == "(":
                close = text.find(")", i + 2)
                close = n if close < 0 else close
                url = text[i + 2 : close]
                i = close
            if length > 0 and (link := _link_entity(url, offset, length)) is not None:
                entities.append(link)
        elif length > 0:
            kind = {"_": "italic", "*": "bold"}.get(c) or ("pre" if is_pre else "code")
            entity: Entity = {"type": kind, "offset": offset, "length": length}
            if language:
                entity["language"] = language
            entities.append(entity)
        i += 3 if is_pre else 1
    return out.text(), entities


# Entities Telegram finds by itself in any text: commands, mentions, hashtags, links, e-mails.
_AUTO_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "email",
        re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ),
    ("url", re.compile(r"(?<![\w@/])(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)\]'}]")),
    (
        "bot_command",
        re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])"),
    ),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("cashtag", re.compile(r"(?<![\w$])\$[A-Z]{1,8}\b")),
]
_NO_AUTO_INSIDE = frozenset({"code", "pre", "text_link", "url", "email", "custom_emoji"})


def detect_entities(text: str, existing: list[Entity] | None = None) -> list[Entity]:
    """Auto-detected entities of `text` that do not overlap code, pre or explicit links."""
    existing = existing or []
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + (2 if ord(ch) > 0xFFFF else 1))
    blocked = [
        (e["offset"], e["offset"] + e["length"]) for e in existing if e["type"] in _NO_AUTO_INSIDE
    ]
    found: list[Entity] = []
    for kind, pattern in _AUTO_PATTERNS:
        for match in pattern.finditer(text):
            start, end = prefix[match.start()], prefix[match.end()]
            if any(start < b_end and b_start < end for b_start, b_end in blocked):
                continue
            found.append({"type": kind, "offset": start, "length": end - start})
            blocked.append((start, end))
    return found


def sort_entities(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Telegram trims leading and trailing whitespace of messages; entities follow the text."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    new_len = utf16_len(stripped)
    kept: list[Entity] = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        end = min(new_len, entity["offset"] + entity["length"] - lead)
        if end > start:
            kept.append(entity | {"offset": start, "length": end - start})
    return stripped, kept


def validate_entities(text: str, raw: Any) -> list[Entity]:
    """Explicit `entities` (instead of parse_mode): a list of MessageEntity objects."""
    if not isinstance(raw, list):
        raise EntityParseError("entities must be an Array of MessageEntity")
    total = utf16_len(text)
    result: list[Entity] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise EntityParseError('can\'t parse MessageEntity: field "type" must be a String')
        offset, length = item.get("offset"), item.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise EntityParseError("can't parse MessageEntity: offset and length must be Integers")
        if offset < 0 or length <= 0 or offset + length > total:
            continue  # Telegram ignores entities outside the text
        result.append(dict(item))
    return result


def format_text(
    text: str,
    parse_mode: str | None,
    explicit_entities: Any = None,
    *,
    strict_ampersand: bool = True,
) -> tuple[str, list[Entity]]:
    """What Telegram stores for a message: trimmed plain text and sorted entities.

    Raises EntityParseError for bad markup and UnsupportedParseMode.
    """
    if explicit_entities is not None:
        plain, entities = text, validate_entities(text, explicit_entities)
    else:
        mode = (parse_mode or "").lower()
        if mode == "html":
            plain, entities = parse_html(text, strict_ampersand=strict_ampersand)
        elif mode == "markdownv2":
            plain, entities = parse_markdown_v2(text)
        elif mode == "markdown":
            plain, entities = parse_markdown(text)
        elif mode in ("", "none"):
            plain, entities = text, []
        else:
            raise UnsupportedParseMode(parse_mode)
    plain, entities = strip_text(plain, entities)
    entities = entities + detect_entities(plain, entities)
    return plain, sort_entities(entities)
