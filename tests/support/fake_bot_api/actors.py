"""Simulated Telegram users and group chats that talk to the bot through the fake server."""

# ruff: noqa: ASYNC109 - wait helpers take a `timeout` on purpose

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .models import TINY_OGG, TINY_PNG, CallbackQueryRecord, FakeChat, FakeMessage, WaitTimeout, image_size

if TYPE_CHECKING:
    from .server import FakeBotApi

Predicate = Callable[[FakeMessage], bool]


class _ChatView:
    """Reading the bot's messages in one chat, and waiting for new ones."""

    def __init__(self, server: FakeBotApi, chat_id: int) -> None:
        self.server = server
        self.chat_id = chat_id
        self._cursor = 0  # message_id after which messages count as "new"

    @property
    def chat(self) -> FakeChat:
        return self.server.chats[self.chat_id]

    def messages(self, *, include_deleted: bool = False) -> list[FakeMessage]:
        """The bot's messages in this chat, current state after edits (deleted ones left out)."""
        return self.server.bot_messages(self.chat_id, include_deleted=include_deleted)

    def last_message(self) -> FakeMessage | None:
        msgs = self.messages()
        return msgs[-1] if msgs else None

    def history(self) -> list[FakeMessage]:
        """Everything in the chat, the users' messages included."""
        return self.server.history(self.chat_id)

    def texts(self) -> list[str]:
        return [m.content for m in self.messages()]

    async def wait_for_message(
        self,
        predicate: Predicate | None = None,
        timeout: float = 15.0,
        after: int | FakeMessage | None = None,
    ) -> FakeMessage:
        """The first bot message newer than ``after`` (a message_id or message; by default the
        user's last action here, or the message the previous wait returned) matching ``predicate``.
        Raises :class:`WaitTimeout` (an AssertionError) listing what the bot did send."""
        floor = (
            self._cursor if after is None else (after.message_id if isinstance(after, FakeMessage) else after)
        )

        def find() -> FakeMessage | None:
            for msg in self.messages():
                if msg.message_id > floor and (predicate is None or predicate(msg)):
                    return msg
            return None

        try:
            found = await self.server.wait_until(find, timeout, what="a bot message")
        except WaitTimeout:
            newer = [m for m in self.messages() if m.message_id > floor]
            raise WaitTimeout(
                f"no new bot message{' matching the predicate' if predicate else ''} in chat {self.chat_id} "
                f"within {timeout}s; new bot messages: {newer}"
            ) from None
        self._cursor = max(self._cursor, found.message_id)
        return found

    async def assert_no_message(self, within: float = 0.3, predicate: Predicate | None = None) -> None:
        """Fail if a new bot message (matching ``predicate``) shows up within ``within`` seconds."""
        try:
            msg = await self.wait_for_message(predicate, timeout=within)
        except WaitTimeout:
            return
        raise AssertionError(f"unexpected bot message: {msg!r}")

    def _mark(self) -> None:
        self._cursor = max(self._cursor, self.chat.max_message_id())


class FakeUser(_ChatView):
    """A Telegram user; their private chat with the bot has ``chat_id == id``."""

    def __init__(
        self,
        server: FakeBotApi,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "en",
    ) -> None:
        super().__init__(server, user_id)
        self.id = user_id
        self.first_name = first_name
        self.username = username
        self.last_name = last_name
        self.language_code = language_code

    def __repr__(self) -> str:
        return f"<FakeUser {self.id} {self.first_name!r}>"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        return out

    @property
    def blocked(self) -> bool:
        return self.chat.blocked

    @property
    def chat_actions(self) -> list[str]:
        return [a.action for a in self.chat.actions]

    # ----- things the user does in the private chat -----
    async def send_text(self, text: str, *, reply_to: int | None = None) -> FakeMessage:
        return await self._send(self.chat, text=text, reply_to=reply_to)

    async def send_command(self, command: str, args: str = "") -> FakeMessage:
        """``/command args`` with the bot_command entity (``command`` with or without the slash)."""
        return await self._send(self.chat, **_command_fields(command, args))

    async def send_photo(self, data: bytes = TINY_PNG, *, caption: str | None = None) -> FakeMessage:
        width, height = image_size(data)
        stored = self.server._store_file(data, "photo", "jpg")
        thumb = self.server._store_file(data, "photo", "jpg")
        sizes = [
            {"file_id": thumb.file_id, "file_unique_id": thumb.file_unique_id, "width": min(width, 90),
             "height": min(height, 90), "file_size": len(data)},
            {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "width": width,
             "height": height, "file_size": len(data)},
        ]  # fmt: skip
        return await self._send(self.chat, photo=data, photo_sizes=sizes, caption=caption)

    async def send_sticker(self, emoji: str = "👍", *, set_name: str = "CoachTestStickers") -> FakeMessage:
        stored = self.server._store_file(b"RIFF\x00\x00\x00\x00WEBP", "sticker", "webp")
        sticker = {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
            "set_name": set_name, "file_size": len(stored.data),
        }  # fmt: skip
        return await self._send(self.chat, sticker=sticker)

    async def send_voice(self, data: bytes = TINY_OGG, *, duration: int = 3) -> FakeMessage:
        stored = self.server._store_file(data, "voice", "oga")
        voice = {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "duration": duration,
            "mime_type": "audio/ogg", "file_size": len(data),
        }  # fmt: skip
        return await self._send(self.chat, voice=voice)

    async def press(self, message_id: int, data: str) -> CallbackQueryRecord:
        """Press an inline button with ``data`` under message ``message_id`` of the private chat.
        Works for messages the server never saw too (Telegram lets users press old buttons)."""
        return await self._press(self.chat, message_id, data)

    async def click(
        self, button_text: str, *, message: FakeMessage | int | None = None
    ) -> CallbackQueryRecord:
        """Press the button labelled ``button_text`` (exact, else substring) in ``message``, by
        default in the newest bot message that has such a button."""
        return await self._click(self.chat, button_text, message)

    async def edit_text(self, message_id: int, new_text: str) -> FakeMessage:
        """Edit one of the user's own messages (an ``edited_message`` update)."""
        msg = self.chat.find(message_id)
        if msg is None or msg.from_bot:
            raise ValueError(f"user {self.id} has no message {message_id} to edit")
        self._require_not_blocked()
        msg.versions.append(msg.snapshot())
        msg.text = new_text
        msg.entities = []
        msg.edited_at = time.time()
        msg.edit_date = int(msg.edited_at)
        msg.update_id = self.server.push_update({"edited_message": msg.to_json()})
        self._mark()
        await asyncio.sleep(0)
        return msg

    async def block_bot(self) -> int:
        """Block the bot: sends now fail with 403; a ``my_chat_member`` update goes out.
        Returns that update's id."""
        self.chat.blocked = True
        return await self._member_update("member", "kicked")

    async def unblock_bot(self) -> int:
        self.chat.blocked = False
        self.chat.started = True
        return await self._member_update("kicked", "member")

    async def _member_update(self, old: str, new: str) -> int:
        def member(status: str) -> dict[str, Any]:
            out: dict[str, Any] = {"status": status, "user": self.server.bot_user}
            if status == "kicked":
                out["until_date"] = 0
            return out

        update = {
            "my_chat_member": {
                "chat": self.chat.to_json(),
                "from": self.to_json(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            }
        }
        update_id = self.server.push_update(update)
        await asyncio.sleep(0)
        return update_id

    # ----- shared plumbing (also used by FakeGroup) -----
    def _require_not_blocked(self) -> None:
        if self.chat.blocked:
            raise RuntimeError(f"user {self.id} blocked the bot; call unblock_bot() first")

    async def send_unreadable_text(self, text: str) -> FakeMessage:
        """A text message in a shape python-telegram-bot cannot read (as a newer Bot API's update can
        be): its sender has neither `first_name` nor `is_bot`. The chat and the text are as usual."""

        def unreadable(message: dict[str, Any]) -> dict[str, Any]:
            return {**message, "from": {"id": self.id}}

        return await self._send(self.chat, reshape=unreadable, text=text)

    async def _send(self, chat: FakeChat, *, reply_to: int | None = None,
                    reshape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                    **fields: Any) -> FakeMessage:
        if chat.type == "private":
            self._require_not_blocked()
            chat.started = True
        now = time.time()
        target = chat.find(reply_to) if reply_to is not None else None
        if reply_to is not None and target is None:
            raise ValueError(f"no message {reply_to} in chat {chat.id} to reply to")
        msg = FakeMessage(
            chat_id=chat.id,
            message_id=chat.new_message_id(),
            from_bot=False,
            sender=self.to_json(),
            chat=chat.to_json(),
            date=int(now),
            sent_at=now,
            reply_to=target,
            **fields,
        )
        chat.messages.append(msg)
        payload = msg.to_json() if reshape is None else reshape(msg.to_json())
        msg.update_id = self.server.push_update({"message": payload})
        self._view(chat)._mark()
        await asyncio.sleep(0)
        return msg

    async def _press(self, chat: FakeChat, message_id: int, data: str) -> CallbackQueryRecord:
        if chat.type == "private":
            self._require_not_blocked()
        msg = chat.find(message_id)
        if msg is not None and not msg.deleted:
            message_json = msg.to_json()
        else:  # an old message the server has no record of
            message_json = {
                "message_id": message_id,
                "from": self.server.bot_user,
                "chat": chat.to_json(),
                "date": int(time.time()) - 86400,
            }
        query = CallbackQueryRecord(
            id=self.server._new_callback_id(),
            chat_id=chat.id,
            user_id=self.id,
            message_id=message_id,
            data=data,
            time=time.time(),
            _server=self.server,
        )
        self.server.callback_queries[query.id] = query
        payload = {
            "id": query.id,
            "from": self.to_json(),
            "message": message_json,
            "chat_instance": f"{abs(chat.id)}{self.server.bot_id}",
            "data": data,
        }
        query.update_id = self.server.push_update({"callback_query": payload})
        self._view(chat)._mark()
        await asyncio.sleep(0)
        return query

    async def _click(
        self, chat: FakeChat, text: str, message: FakeMessage | int | None
    ) -> CallbackQueryRecord:
        if isinstance(message, int):
            found = chat.find(message)
            if found is None:
                raise LookupError(f"no message {message} in chat {chat.id}")
            message = found
        if message is None:
            candidates = [
                m for m in reversed(chat.messages) if m.from_bot and not m.deleted and m.inline_keyboard
            ]
            for candidate in candidates:
                try:
                    candidate.button(text)
                except LookupError:
                    continue
                message = candidate
                break
            if message is None:
                raise LookupError(f"no bot message in chat {chat.id} has a button {text!r}")
        return await self._press(chat, message.message_id, message.callback_data(text))

    def _view(self, chat: FakeChat) -> _ChatView:
        return self if chat.id == self.chat_id else self.server.groups[chat.id]


class FakeGroup(_ChatView):
    """A group chat; users post into it with the ``*_as`` methods."""

    def __init__(self, server: FakeBotApi, chat_id: int, title: str) -> None:
        super().__init__(server, chat_id)
        self.title = title

    def __repr__(self) -> str:
        return f"<FakeGroup {self.chat_id} {self.title!r}>"

    async def send_text_as(self, user: FakeUser, text: str, *, reply_to: int | None = None) -> FakeMessage:
        return await user._send(self.chat, text=text, reply_to=reply_to)

    async def send_command_as(
        self, user: FakeUser, command: str, args: str = "", *, mention_bot: bool = False
    ) -> FakeMessage:
        bot_name = self.server.bot_user["username"] if mention_bot else None
        return await user._send(self.chat, **_command_fields(command, args, bot_name))

    async def press_as(self, user: FakeUser, message_id: int, data: str) -> CallbackQueryRecord:
        return await user._press(self.chat, message_id, data)

    async def click_as(
        self, user: FakeUser, button_text: str, *, message: FakeMessage | int | None = None
    ) -> CallbackQueryRecord:
        return await user._click(self.chat, button_text, message)


def _command_fields(command: str, args: str, bot_username: str | None = None) -> dict[str, Any]:
    command = command if command.startswith("/") else f"/{command}"
    if bot_username:
        command = f"{command}@{bot_username}"
    text = f"{command} {args}" if args else command
    return {"text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}]}
