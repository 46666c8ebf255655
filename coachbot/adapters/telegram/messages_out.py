"""What the bot sends, formatted for Telegram: merged, split, with buttons, and every word from the dialogs.

Replies of one event that come in a row are merged into one message when only the last has buttons:
fewer notifications, and it respects Telegram's one-message-a-second pace per chat. A text over
Telegram's 4096 characters is split on line boundaries, the buttons going on the last part. Texts are
sent without parse_mode, so nothing an admin writes can break on Markdown or HTML escaping.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any, Literal

from coachbot.adapters.telegram import alert_card
from coachbot.adapters.telegram.keyboards import layout
from coachbot.app.channel import EscalationNotice, Outgoing
from coachbot.app.data_rights.export import measurements_csv
from coachbot.engine import ButtonOption, Reply
from coachbot.spec.escalation_rules import CoachCard, EscalationRules
from coachbot.spec.model import ChannelMessages

MAX_TEXT = 4096
"""Telegram's limit, counted in UTF-16 code units."""
MAX_CAPTION = 1024


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def merge(replies: Sequence[Reply]) -> list[tuple[str, tuple[ButtonOption, ...]]]:
    """Consecutive replies become one message, closed by the first one that has buttons."""
    merged: list[tuple[str, tuple[ButtonOption, ...]]] = []
    pending: list[str] = []
    for reply in replies:
        if reply.text.strip():
            pending.append(reply.text.strip())
        if reply.options:
            merged.append(("\n\n".join(pending), reply.options))
            pending = []
    if pending:
        merged.append(("\n\n".join(pending), ()))
    return [(text, options) for text, options in merged if text]


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut at line ends where possible, else at spaces."""
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in _pieces(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            parts.append(current)
        current = line
    if current.strip():
        parts.append(current)
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    """The text's lines, with any single line longer than `limit` cut at spaces (or hard, if none)."""
    pieces: list[str] = []
    for whole in text.split("\n"):
        line = whole
        while utf16_len(line) > limit:
            cut = _fit(line, limit)
            space = line.rfind(" ", 0, cut)
            cut = space if space > 0 else cut
            pieces.append(line[:cut])
            line = line[cut:].lstrip(" ")
        pieces.append(line)
    return pieces


def _fit(text: str, limit: int) -> int:
    """The longest prefix length of `text` within `limit` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def shorten(text: str, limit: int) -> str:
    return text if utf16_len(text) <= limit else text[: _fit(text, limit - 1)] + "…"


class TelegramChannel:
    """The service's `Channel` for Telegram: message payloads the outbox sender sends as they are."""

    def __init__(self, messages: ChannelMessages, escalation: EscalationRules | None = None, *,
                 button_key: bytes | None = None) -> None:
        self.messages = messages
        # Verifies presses (`keyboards.verify`); without it (no bot token) every press reads as forged.
        self.button_key = button_key
        # The alert card's own words and the zone its times are shown in (escalation.yaml).
        self.card = escalation.card if escalation is not None else CoachCard()
        self.zone: dt.tzinfo = escalation.hours.zone if escalation is not None else dt.UTC

    def replies(self, replies: Sequence[Reply], token: str | None) -> list[Outgoing]:
        out: list[Outgoing] = []
        for text, options in merge(replies):
            parts = split(text)
            for number, part in enumerate(parts, 1):
                payload: dict[str, Any] = {"text": part}
                if options and token and number == len(parts):
                    payload["keyboard"] = layout(options, token)
                out.append(Outgoing(kind="text", payload=payload))
        return out

    def text(self, text: str, chat_id: int | None = None) -> list[Outgoing]:
        return [Outgoing(kind="text", payload={"text": part}, chat_id=chat_id)
                for part in split(text.strip())]

    def coach_alert(self, notice: EscalationNotice, chat_id: int) -> Outgoing:
        """The alert card: the 14-day chart with the evidence as its caption and three buttons."""
        return alert_card.alert(self.messages, self.card, notice, chat_id, zone=self.zone,
                                caption_limit=MAX_CAPTION)

    def alert_edit(self, escalation_id: int, message_id: int, shown: str, photo: bool, line: str, *,
                   acknowledged: bool, closed: bool, chat_id: int | None = None) -> Outgoing:
        """An alert card once a coach acted on it: `line` (who, when) under it; closed: no buttons."""
        limit = MAX_CAPTION if photo else MAX_TEXT
        text = f"{shorten(shown, max(1, limit - utf16_len(line) - 2))}\n\n{line}" if shown else line
        payload: dict[str, Any] = {"message_id": message_id, ("caption" if photo else "text"): text}
        if not closed:
            payload["keyboard"] = alert_card.keyboard(self.card, escalation_id, acknowledged=acknowledged)
        return Outgoing(kind="edit", payload=payload, chat_id=chat_id)

    def coach_message(self, kind: Literal["greeting", "help", "unknown"], name: str) -> Outgoing:
        m = self.messages
        text = {"greeting": m.coach_greeting.replace("{name}", name), "help": m.coach_help,
                "unknown": m.coach_unknown_command}[kind]
        return Outgoing(kind="text", payload={"text": shorten(text.strip(), MAX_TEXT)})

    def my_data(self, export: dict[str, Any]) -> list[Outgoing]:
        """Two files: everything held as JSON, and the measurements as CSV for a spreadsheet (named
        like the JSON file, ending .csv)."""
        content = json.dumps(export, indent=2, ensure_ascii=False, sort_keys=False)
        payload = {"filename": self.messages.mydata_filename, "content": content,
                   "caption": shorten(self.messages.mydata_intro, MAX_CAPTION)}
        table = {"filename": str(PurePath(self.messages.mydata_filename).with_suffix(".csv")),
                 "content": measurements_csv(export)}
        return [Outgoing(kind="document", payload=payload), Outgoing(kind="document", payload=table)]

    # -- for inbound updates ------------------------------------------------------------------------
    def chosen(self, question: str, answer: str) -> str:
        """The question as it now reads, with the pressed answer shown under it."""
        room = MAX_TEXT - utf16_len(self.messages.chosen_answer.replace("{answer}", answer)) + 10
        return self.messages.chosen_answer.replace("{question}", shorten(question, max(room, 1))) \
            .replace("{answer}", answer)

    def media(self, kind: Literal["photo", "sticker", "voice", "other"]) -> str:
        return str(getattr(self.messages.unsupported_media, kind))

