"""Records kept by the fake Bot API server and the JSON shapes built from them."""

# ruff: noqa: ASYNC109 - wait helpers take a `timeout` on purpose

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

# A valid 1x1 transparent PNG: handy default payload for photo uploads.
TINY_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x03\x00\x08\xfc\x02\xfe\xa7\x9a\xa0\xa0\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)
TINY_OGG = b"OggS\x00\x02" + b"\x00" * 58


class ApiError(Exception):
    """Raised by method implementations; rendered as a Bot API error response."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class WaitTimeout(AssertionError, TimeoutError):
    """A ``wait_*`` helper gave up. Fails a test like an assertion, catchable as TimeoutError."""


@dataclass
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class StoredFile:
    """A file the server knows by file_id (uploaded by the bot or sent by a user)."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str


@dataclass
class CallRecord:
    """One HTTP call to a Bot API method. ``status`` is None while the call is in flight."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    time: float
    status: int | None = None
    duration: float | None = None
    response: dict[str, Any] | None = None
    fault: bool = False
    rate_limited: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass
class Fault:
    method: str  # lower-cased method name, or "*" for any method
    status: int
    times: int
    retry_after: int | None
    description: str | None
    delay: float
    chat_id: int | None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.times <= 0 or (self.method != "*" and self.method != method.lower()):
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


@dataclass
class RateLimitConfig:
    """Sliding-window flood limits, roughly Telegram's documented ones.

    A private chat accepts ``per_chat_per_second + per_chat_burst`` sends within any 1 s window;
    a group additionally ``group_per_minute`` within any 60 s window; all chats together
    ``global_per_second`` within any 1 s window.
    """

    global_per_second: int = 30
    per_chat_per_second: int = 1
    per_chat_burst: int = 2
    group_per_minute: int = 20


@dataclass
class WebhookDelivery:
    update_id: int
    attempt: int
    url: str
    secret_token: str | None
    status: int | None  # None when the connection failed
    error: str | None
    time: float


@dataclass
class ChatAction:
    action: str
    time: float


@dataclass
class CallbackQueryRecord:
    id: str
    chat_id: int
    user_id: int
    message_id: int
    data: str
    time: float
    answered: bool = False
    answer: dict[str, Any] | None = None
    update_id: int | None = None
    _server: Any = field(default=None, repr=False, compare=False)

    @property
    def answer_text(self) -> str | None:
        return (self.answer or {}).get("text")

    async def wait_answered(self, timeout: float = 15.0) -> dict[str, Any]:
        await self._server.wait_until(lambda: self.answered, timeout, what=f"answer to callback {self.id}")
        return self.answer or {}


@dataclass
class PendingUpdate:
    update_id: int
    payload: dict[str, Any]
    redelivery: bool = False
    handed_out: bool = False  # returned by getUpdates at least once / POSTed to the webhook
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def kind(self) -> str:
        return next(k for k in self.payload if k != "update_id")


@dataclass(eq=False)
class FakeMessage:
    """A message in a chat, sent by the bot or by a user. Edits update it in place."""

    chat_id: int
    message_id: int
    from_bot: bool
    sender: dict[str, Any]
    chat: dict[str, Any]
    date: int
    sent_at: float
    method: str = "user"
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    raw_text: str | None = None  # text/caption as passed by the bot, before parse_mode processing
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    photo: bytes | None = None
    photo_sizes: list[dict[str, Any]] = field(default_factory=list)
    photo_url: str | None = None
    sticker: dict[str, Any] | None = None
    voice: dict[str, Any] | None = None
    reply_to: FakeMessage | None = None
    edit_date: int | None = None
    edited_at: float | None = None
    deleted: bool = False
    deleted_at: float | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    update_id: int | None = None  # for user messages: the update that carried it

    # ----- convenience for assertions -----
    @property
    def content(self) -> str:
        """Text or caption, whichever the message has ("" if neither)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return self.reply_markup["inline_keyboard"]
        return []

    @property
    def buttons(self) -> list[list[str]]:
        """Texts of the inline keyboard buttons, row by row ([] if none)."""
        return [[b.get("text", "") for b in row] for row in self.inline_keyboard]

    @property
    def button_texts(self) -> list[str]:
        return [t for row in self.buttons for t in row]

    def button(self, text: str) -> dict[str, Any]:
        """The inline button whose text equals ``text`` (or, failing that, contains it)."""
        flat = [b for row in self.inline_keyboard for b in row]
        for candidates in (
            [b for b in flat if b.get("text") == text],
            [b for b in flat if text in b.get("text", "")],
        ):
            if len(candidates) == 1:
                return candidates[0]
            if len(candidates) > 1:
                raise LookupError(f"several buttons match {text!r}: {self.button_texts}")
        raise LookupError(f"no button {text!r} in message {self.message_id}; buttons: {self.button_texts}")

    def callback_data(self, text: str) -> str:
        data = self.button(text).get("callback_data")
        if data is None:
            raise LookupError(f"button {text!r} has no callback_data")
        return data

    def snapshot(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "entities": self.entities,
            "caption": self.caption,
            "caption_entities": self.caption_entities,
            "reply_markup": self.reply_markup,
            "edit_date": self.edit_date,
            "at": self.edited_at or self.sent_at,
        }

    def to_json(self, *, with_reply: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            out["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            out["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        if self.text is not None:
            out["text"] = self.text
            if self.entities:
                out["entities"] = self.entities
        if self.photo_sizes:
            out["photo"] = self.photo_sizes
        if self.sticker is not None:
            out["sticker"] = self.sticker
        if self.voice is not None:
            out["voice"] = self.voice
        if self.caption is not None:
            out["caption"] = self.caption
            if self.caption_entities:
                out["caption_entities"] = self.caption_entities
        if self.inline_keyboard:  # Telegram only echoes inline keyboards back
            out["reply_markup"] = {"inline_keyboard": self.inline_keyboard}
        return out

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else f"user {self.sender.get('id')}"
        flags = " deleted" if self.deleted else ""
        flags += f" edited x{len(self.versions)}" if self.versions else ""
        return (
            f"<FakeMessage chat={self.chat_id} id={self.message_id} {who}{flags} "
            f"{self.content!r} buttons={self.button_texts}>"
        )


@dataclass
class FakeChat:
    id: int
    type: str  # private | group | supergroup
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    blocked: bool = False  # private chats: the user blocked the bot
    started: bool = True  # private chats: the user has ever talked to the bot
    messages: list[FakeMessage] = field(default_factory=list)
    actions: list[ChatAction] = field(default_factory=list)
    next_message_id: int = 1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "first_name", "last_name", "username"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def new_message_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid

    def find(self, message_id: int) -> FakeMessage | None:
        for msg in reversed(self.messages):
            if msg.message_id == message_id:
                return msg
        return None

    def max_message_id(self) -> int:
        return self.next_message_id - 1


def now() -> float:
    return time.time()


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG/JPEG/GIF payload; (1, 1) if it is not recognisable."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data.startswith(b"\xff\xd8"):
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                    return width, height
                i += 2 + seg_len
    except struct.error:
        pass
    return 1, 1
