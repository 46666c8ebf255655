"""Updates this version of python-telegram-bot cannot read: recorded without their text, never a stop.

Telegram adds fields and kinds faster than any library release; an update whose shape the library
cannot read must not hold up everyone else (see `confirming_bot.py` and `webhook.py`). What can still be
read of it safely, the private chat it came from and the words typed in it, is kept until the update is
handled, so words of crisis are heard even in an update the library could not read. The log gets the
update id, its kind and the error class, never the raw update: it holds patients' words and names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("coachbot.telegram")

_TEXT_KINDS = ("message", "edited_message")


@dataclass(frozen=True)
class Readable:
    """What could be read of an unreadable update: its private chat and the words typed in it."""

    chat_id: int
    text: str


class UnreadableUpdates:
    """Unreadable updates by id until handled; warns the operator once per process, then counts."""

    def __init__(self) -> None:
        self._readable: dict[int, Readable] = {}
        self.count = 0

    def record(self, update_id: int, raw: dict[str, Any], error: BaseException) -> None:
        """Log it (id, kind, error class only) and keep what can be screened."""
        self.count += 1
        kind = next((key for key in raw if key != "update_id"), "nothing")
        if self.count == 1:
            log.warning("update %s (%s) could not be read by python-telegram-bot (%s): skipped, its typed "
                        "words screened for crisis; check for a newer python-telegram-bot release. Later "
                        "unreadable updates are logged at INFO.", update_id, kind, type(error).__name__)
        else:
            log.info("update %s (%s) could not be read (%s): skipped (%d so far)", update_id, kind,
                     type(error).__name__, self.count)
        readable = screenable(raw)
        if readable is not None:
            self._readable[update_id] = readable

    def record_without_id(self, error: BaseException) -> None:
        self.count += 1
        log.warning("an update without a readable id was dropped (%s)", type(error).__name__)

    def take(self, update_id: int) -> Readable | None:
        """What could be read of this update, once (None for an update that was read normally)."""
        return self._readable.pop(update_id, None)


def screenable(raw: dict[str, Any]) -> Readable | None:
    """The private chat and typed words of a raw message or edit, read field by field with no trust in
    their shape; None when either is missing or not of the expected type."""
    for kind in _TEXT_KINDS:
        message = raw.get(kind)
        if not isinstance(message, dict):
            continue
        chat = message.get("chat")
        if not isinstance(chat, dict):
            return None
        chat_id = chat.get("id") if type(chat.get("id")) is int else None  # not a bool, not a string
        private = chat.get("type") == "private" or (chat.get("type") is None and isinstance(chat_id, int)
                                                     and chat_id > 0)  # private chats' ids are positive
        if not private:
            return None
        text = message.get("text")
        if not isinstance(text, str):
            text = message.get("caption")
        if isinstance(chat_id, int) and isinstance(text, str) and text.strip():
            return Readable(chat_id, text.strip())
        return None
    return None
