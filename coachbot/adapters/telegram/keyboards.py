"""Inline keyboards: answer buttons laid out as people expect, and callback_data that fits in 64 bytes.

A button carries `TOKEN:VALUE`, where TOKEN names the question (see `coachbot.app.channel.question_token`)
and VALUE is the answer as the engine parses it. An option whose value would not fit carries
`TOKEN#INDEX` instead, which the service maps back to the option. Nothing personal ever goes into
callback_data: Telegram stores it with the message.

Callback data comes back from the client, so anyone can send any bytes. When a keyboard is sent (see
`signed`), every answer button is prefixed with an HMAC over the chat id and its data, keyed by a key
derived from the bot token: a press whose signature does not match (made up, or copied from another
chat's message) is refused by `verify` before the service sees it. A replayed press of a real button
passes the signature and is refused by the service, because its token no longer names the current
question.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from coachbot.engine import ButtonOption

MAX_CALLBACK_BYTES = 64
SIGNATURE_CHARS = 11
"""8 bytes of HMAC-SHA256 in unpadded base64url: 64 bits, so a guessed signature is hopeless."""
UNSIGNED_BYTES = MAX_CALLBACK_BYTES - SIGNATURE_CHARS
SCALE = tuple(str(n) for n in range(11))
SHORT_LABEL = 14
"""Choice labels up to this many characters share a row; longer ones get a row each, so they are
never cut off on a phone."""

Layout = list[list[list[str]]]
"""Rows of [label, callback_data] pairs: JSON-friendly, stored as is in the outbox payload."""


@dataclass(frozen=True, slots=True)
class Pressed:
    """What a button's callback_data says: the question's token and the value (or option index)."""

    token: str
    value: str
    index: int | None = None


def callback_data(token: str, option: ButtonOption, index: int) -> str:
    """`TOKEN:VALUE`, or `TOKEN#INDEX` when that would not fit beside the signature."""
    data = f"{token}:{option.value}"
    if len(data.encode()) <= UNSIGNED_BYTES:
        return data
    return f"{token}#{index}"


def parse_callback(data: str | None) -> Pressed | None:
    """The press's question token and answer, or None for data this bot never sent."""
    if not data:
        return None
    token, sep, value = data.partition(":")
    if sep and token:
        return Pressed(token=token, value=value)
    token, sep, index = data.partition("#")
    if sep and token and index.isdigit():
        return Pressed(token=token, value="", index=int(index))
    return None


def button_key(bot_token: str) -> bytes:
    """The signing key: derived from the bot token, so it needs no storage and changes with the token
    (buttons sent before a token change then read as stale, which is safe)."""
    return hashlib.sha256(b"coachbot callback signing\n" + bot_token.encode()).digest()


def signature(key: bytes, chat_id: int, data: str) -> str:
    mac = hmac.new(key, f"{chat_id}\n{data}".encode(), hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(key: bytes, chat_id: int, data: str) -> str:
    """`data` bound to `chat_id`: what goes into the button."""
    return signature(key, chat_id, data) + data


def verify(key: bytes | None, chat_id: int, data: str | None) -> str | None:
    """The unsigned data of a press in `chat_id`, or None when it was not signed by us for this chat."""
    if key is None or not data or len(data) <= SIGNATURE_CHARS:
        return None
    mac, rest = data[:SIGNATURE_CHARS], data[SIGNATURE_CHARS:]
    return rest if hmac.compare_digest(mac, signature(key, chat_id, rest)) else None


def signed(rows: Any, key: bytes, chat_id: int, *, leave: Callable[[str], bool]) -> Any:
    """The stored layout with every answer button signed for `chat_id`; buttons `leave` names (the
    alert card's, checked against the coach's role instead) keep their data."""
    if not rows:
        return rows
    return [[[label, data if leave(str(data)) else sign(key, chat_id, str(data))] for label, data in row]
            for row in rows]


def layout(options: Sequence[ButtonOption], token: str) -> Layout:
    """0-10 scales in two rows (0-5, 6-10), Yes/No side by side, short choices in one row, long ones
    one per row."""
    buttons = [[option.label, callback_data(token, option, i)] for i, option in enumerate(options)]
    if tuple(o.value for o in options) == SCALE:
        return [buttons[:6], buttons[6:]]
    if len(buttons) <= 3 and all(len(o.label) <= SHORT_LABEL for o in options):
        return [buttons]
    if len(buttons) <= 8 and all(len(o.label) <= 3 for o in options):
        return [buttons]
    return [[button] for button in buttons]


def markup_json(rows: Any) -> dict[str, Any]:
    """The stored layout as the Bot API's JSON for an inline keyboard (what `markup` serialises to)."""
    return {"inline_keyboard": [[{"text": str(label), "callback_data": str(data)} for label, data in row]
                                for row in rows]}


def markup(rows: Any) -> InlineKeyboardMarkup | None:
    """The stored layout as PTB's markup (None when the message has no buttons)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(str(label), callback_data=str(data)) for label, data in row] for row in rows])


def label_of(keyboard: InlineKeyboardMarkup | None, data: str | None) -> str | None:
    """The label of the button with this callback_data in a message's keyboard, to show what was chosen."""
    if keyboard is None or data is None:
        return None
    for row in keyboard.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
