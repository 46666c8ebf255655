"""parse_mode handling like Telegram: markup is stripped from the text and turned into entities.

Malformed markup is refused with Telegram's "can't parse entities" 400 error, so that a bot which
would break in production (an unescaped ``.`` in MarkdownV2, a ``<br>`` in HTML, a user's name with
``<`` in it...) also breaks in the tests. Offsets and lengths of entities are in UTF-16 code units.
"""

from __future__ import annotations

import re
from typing import Any

from .models import ApiError

_HTML_TAGS = {
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
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{1,10});")
_ATTR_RE = re.compile(r"""([a-zA-Z][a-zA-Z0-9_-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cant_parse(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0  # UTF-16 units emitted so far
        self.entities: list[dict[str, Any]] = []

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.offset += utf16_len(chunk)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.offset > start:  # Telegram silently drops empty entities
            self.entities.append({"type": kind, "offset": start, "length": self.offset - start, **extra})

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        ents = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ents


def parse_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) the way Telegram would store the message."""
    if entities:
        return text, list(entities)
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise ApiError(400, "Bad Request: unsupported parse_mode")


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[tuple[str, int, dict[str, Any]]] = []  # (tag, start offset, entity extras)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            m = _ENTITY_RE.match(text, i)
            if m:
                name = m.group(1)
                if name.startswith("#x"):
                    out.add(chr(int(name[2:], 16)))
                elif name.startswith("#"):
                    out.add(chr(int(name[1:])))
                elif name in _NAMED_ENTITIES:
                    out.add(_NAMED_ENTITIES[name])
                else:  # unsupported named entities are kept verbatim, like Telegram does
                    out.add(m.group(0))
                i = m.end()
            else:
                out.add(ch)
                i += 1
            continue
        if ch != "<":
            out.add(ch)
            i += 1
            continue
        end = text.find(">", i)
        if end < 0:
            raise _cant_parse(f"Unclosed start tag at byte offset {_byte_offset(text, i)}")
        inner = text[i + 1 : end]
        if inner.startswith("/"):
            name = inner[1:].strip().lower()
            if not stack:
                raise _cant_parse(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
            tag, start, extra = stack[-1]
            if name != tag:
                raise _cant_parse(
                    f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                    f'expected "</{tag}>", found "</{name}>"'
                )
            stack.pop()
            _close_html(out, tag, start, extra, stack)
        else:
            m = re.match(r"[a-zA-Z][a-zA-Z0-9-]*", inner)
            name = m.group(0).lower() if m else ""
            if name not in _HTML_TAGS:
                raise _cant_parse(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}')
            attrs = {
                a.group(1).lower(): next((g for g in a.groups()[1:] if g is not None), "")
                for a in _ATTR_RE.finditer(inner[len(name) :])
            }
            stack.append((name, out.offset, _html_extras(name, attrs, text, i)))
        i = end + 1
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_extras(name: str, attrs: dict[str, str], text: str, pos: int) -> dict[str, Any]:
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _cant_parse(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, pos)}')
    if name == "a":
        return {"url": attrs["href"]} if attrs.get("href") else {}
    if name == "code" and attrs.get("class", "").startswith("language-"):
        return {"language": attrs["class"][len("language-") :]}
    if name == "blockquote" and "expandable" in attrs:
        return {"expandable": True}
    if name == "tg-emoji":
        return {"custom_emoji_id": attrs.get("emoji-id", "")}
    return {}


def _close_html(out: _Builder, tag: str, start: int, extra: dict[str, Any], stack: list[Any]) -> None:
    kind = _HTML_TAGS[tag]
    if tag == "a":
        url = extra.get("url")
        if not url:
            return
        m = re.match(r"tg://user\?id=(\d+)$", url)
        if m:
            out.entity("text_mention", start, user={"id": int(m.group(1)), "is_bot": False, "first_name": ""})
        else:
            out.entity(kind, start, url=url)
        return
    if tag == "code" and "language" in extra and stack and stack[-1][0] == "pre":
        stack[-1][2]["language"] = extra["language"]
        return
    if tag == "blockquote" and extra.get("expandable"):
        out.entity("expandable_blockquote", start)
        return
    out.entity(kind, start, **extra)


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:  # noqa: PLR0915
    out = _Builder()
    open_: dict[str, tuple[int, int]] = {}  # entity kind -> (output offset, source index)
    link: tuple[int, int] | None = None
    quote_start: int | None = None
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        ch = text[i]
        if at_line_start and ch == ">":
            if quote_start is None:
                quote_start = out.offset
            i += 1
            at_line_start = False
            continue
        if at_line_start and quote_start is not None:
            out.entity("blockquote", quote_start)
            quote_start = None
        at_line_start = False
        if ch == "\\":
            if i + 1 >= n:
                raise _cant_parse(f"Character '\\' at byte offset {_byte_offset(text, i)} is not escaped")
            out.add(text[i + 1])
            i += 2
            continue
        if ch == "`":
            if text.startswith("```", i):
                close = _find_unescaped(text, "```", i + 3)
                if close < 0:
                    raise _cant_parse(f"Can't find end of Pre entity at byte offset {_byte_offset(text, i)}")
                body = text[i + 3 : close]
                language = ""
                if "\n" in body:
                    first, rest = body.split("\n", 1)
                    if first and " " not in first:
                        language, body = first, rest
                start = out.offset
                out.add(_unescape_code(body))
                out.entity("pre", start, **({"language": language} if language else {}))
                i = close + 3
            else:
                close = _find_unescaped(text, "`", i + 1)
                if close < 0:
                    raise _cant_parse(f"Can't find end of Code entity at byte offset {_byte_offset(text, i)}")
                start = out.offset
                out.add(_unescape_code(text[i + 1 : close]))
                out.entity("code", start)
                i = close + 1
            continue
        kind, width = None, 1
        if ch == "*":
            kind = "bold"
        elif ch == "_":
            kind, width = ("underline", 2) if text.startswith("__", i) else ("italic", 1)
        elif ch == "~":
            kind = "strikethrough"
        elif ch == "|" and text.startswith("||", i):
            kind, width = "spoiler", 2
        if kind is not None:
            if kind in open_:
                out.entity(kind, open_.pop(kind)[0])
            else:
                open_[kind] = (out.offset, i)
            i += width
            continue
        if ch == "[":
            if link is not None:
                raise _cant_parse("Character '[' is reserved and must be escaped with the preceding '\\'")
            link = (out.offset, i)
            i += 1
            continue
        if ch == "]" and link is not None:
            if not text.startswith("(", i + 1):
                raise _cant_parse(
                    f"Can't find end of TextUrl entity at byte offset {_byte_offset(text, link[1])}"
                )
            close = _find_unescaped(text, ")", i + 2)
            if close < 0:
                raise _cant_parse(
                    f"Can't find end of TextUrl entity at byte offset {_byte_offset(text, link[1])}"
                )
            url = re.sub(r"\\(.)", r"\1", text[i + 2 : close])
            m = re.match(r"tg://user\?id=(\d+)$", url)
            if m:
                out.entity(
                    "text_mention", link[0], user={"id": int(m.group(1)), "is_bot": False, "first_name": ""}
                )
            else:
                out.entity("text_link", link[0], url=url)
            link = None
            i = close + 1
            continue
        if ch in MDV2_RESERVED:
            raise _cant_parse(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        out.add(ch)
        if ch == "\n":
            at_line_start = True
        i += 1
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    if link is not None:
        raise _cant_parse(f"Can't find end of TextUrl entity at byte offset {_byte_offset(text, link[1])}")
    if open_:
        kind, (_, src) = min(open_.items(), key=lambda kv: kv[1][1])
        raise _cant_parse(
            f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {_byte_offset(text, src)}"
        )
    return out.result()


def _find_unescaped(text: str, token: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(token, i):
            return i
        i += 1
    return -1


def _unescape_code(body: str) -> str:
    return re.sub(r"\\([`\\])", r"\1", body)


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out = _Builder()
    i, n = 0, len(text)
    markers = {"*": "bold", "_": "italic"}
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "*_`[":
            out.add(text[i + 1])
            i += 2
            continue
        if ch in markers or ch == "`":
            token = "```" if text.startswith("```", i) else ch
            close = text.find(token, i + len(token))
            if close < 0:
                raise _cant_parse(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            start = out.offset
            out.add(text[i + len(token) : close])
            out.entity({"```": "pre", "`": "code"}.get(token) or markers[ch], start)
            i = close + len(token)
            continue
        if ch == "[":
            m = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(text, i)
            if m is None:
                raise _cant_parse(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            start = out.offset
            out.add(m.group(1))
            out.entity("text_link", start, url=m.group(2))
            i = m.end()
            continue
        out.add(ch)
        i += 1
    return out.result()
