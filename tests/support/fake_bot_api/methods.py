"""Bot API method implementations. Every ``api_<name>`` method serves ``<name>``.

Validation and error descriptions follow Telegram's, so that mistakes that would fail in
production (a message that is not modified, a callback_data over 64 bytes, an unescaped
MarkdownV2 character...) fail in the tests too.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

from .formatting import parse_text, utf16_len
from .models import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_MESSAGE_LENGTH,
    ApiError,
    ChatAction,
    FakeChat,
    FakeMessage,
    PendingUpdate,
    UploadedFile,
    bad_request,
    image_size,
)
from .params import get_bool, get_chat_id, get_int, get_json, get_str

if TYPE_CHECKING:
    from .server import FakeBotApi

Params = dict[str, Any]
Files = dict[str, UploadedFile]

CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}  # fmt: skip
BUTTON_ACTIONS = (
    "callback_data", "url", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "callback_game", "pay", "web_app", "copy_text",
)  # fmt: skip
COMMAND_SCOPES = {
    "default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat",
    "chat_administrators", "chat_member",
}  # fmt: skip
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"


class BotApiMethods:
    """Mixin of :class:`FakeBotApi`; state lives on the server instance."""

    # ------------------------------------------------------------------ bot & updates
    def api_getMe(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def api_getUpdates(self: FakeBotApi, p: Params, files: Files) -> list[dict[str, Any]]:
        if self.mode == "webhook":
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = get_int(p, "offset", 0) or 0
        limit = min(max(get_int(p, "limit", 100) or 100, 1), 100)
        try:
            timeout = max(float(p.get("timeout") or 0), 0.0)
        except (TypeError, ValueError):
            raise bad_request("invalid timeout specified") from None
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = allowed
        # Telegram ends a getUpdates that is still waiting when another one comes in.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._select_for_poll(limit)
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                break
            await self._wait_changed(remaining)
            if generation != self._poll_generation:
                if self.mode == "webhook":
                    return []
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        for entry in batch:
            self._handed_out(entry)
        return [entry.payload for entry in batch]

    def _confirm(self: FakeBotApi, offset: int) -> None:
        if offset > 0:
            keep: list[PendingUpdate] = []
            for entry in self._pending:
                if entry.update_id < offset and (not entry.redelivery or entry.handed_out):
                    entry.done.set()
                else:
                    keep.append(entry)
            self._pending = keep
        elif offset < 0 and len(self._pending) > -offset:
            for entry in self._pending[:offset]:
                entry.done.set()
            self._pending = self._pending[offset:]

    def _select_for_poll(self: FakeBotApi, limit: int) -> list[PendingUpdate]:
        batch: list[PendingUpdate] = []
        for entry in list(self._pending):
            if not self._allowed(entry.kind, self._allowed_updates):
                self._pending.remove(entry)
                self.dropped_update_ids.append(entry.update_id)
                entry.done.set()
                continue
            batch.append(entry)
            if len(batch) >= limit:
                break
        return batch

    async def api_setWebhook(self: FakeBotApi, p: Params, files: Files) -> bool:
        url = get_str(p, "url", "") or ""
        drop = get_bool(p, "drop_pending_updates")
        if not url:
            await self.set_mode_polling(drop_pending_updates=drop)
            return True
        if not re.match(r"https?://[^/\s]+", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = get_str(p, "secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = p.get("allowed_updates")
        await self.set_mode_webhook(
            url,
            secret_token=secret or None,
            allowed_updates=allowed if isinstance(allowed, list) else None,
            drop_pending_updates=drop,
            max_connections=get_int(p, "max_connections", 40) or 40,
        )
        return True

    async def api_deleteWebhook(self: FakeBotApi, p: Params, files: Files) -> bool:
        await self.set_mode_polling(drop_pending_updates=get_bool(p, "drop_pending_updates"))
        return True

    def api_getWebhookInfo(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": sum(1 for e in self._pending if not e.handed_out),
        }
        if self.mode == "webhook":
            info["max_connections"] = self.webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self.webhook_allowed_updates:
                info["allowed_updates"] = self.webhook_allowed_updates
            if self.webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    def api_close(self: FakeBotApi, p: Params, files: Files) -> bool:
        self.closed = True
        return True

    def api_logOut(self: FakeBotApi, p: Params, files: Files) -> bool:
        self.logged_out = True
        return True

    # ------------------------------------------------------------------ sending
    def api_sendMessage(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        chat = self._target_chat(p)
        raw = get_str(p, "text")
        if not raw:
            raise bad_request("message text is empty")
        parse_mode = get_str(p, "parse_mode")
        text, entities = parse_text(raw, parse_mode, get_json(p, "entities", list))
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_MESSAGE_LENGTH:
            raise bad_request("message is too long")
        markup = self._markup(p)
        reply_to = self._reply_target(chat, p)
        msg = self._add_bot_message(
            chat, "sendMessage", p, text=text, entities=entities, raw_text=raw, parse_mode=parse_mode,
            reply_markup=markup, reply_to=reply_to,
        )  # fmt: skip
        return msg.to_json()

    def api_sendPhoto(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        chat = self._target_chat(p)
        photo = p.get("photo")
        upload = files.get("photo")
        if isinstance(photo, str) and photo.startswith("attach://"):
            upload = files.get(photo[len("attach://") :])
        data: bytes | None = None
        url: str | None = None
        if upload is not None:
            if not upload.data:
                raise bad_request("file must be non-empty")
            data = upload.data
        elif isinstance(photo, str) and photo:
            if photo in self.files:
                data = self.files[photo].data
            elif re.match(r"https?://", photo):
                url = photo
            else:
                raise bad_request("wrong file identifier/HTTP URL specified")
        else:
            raise bad_request("there is no photo in the request")
        caption, caption_entities, raw = self._caption(p)
        msg = self._add_bot_message(
            chat, "sendPhoto", p, caption=caption, caption_entities=caption_entities, raw_text=raw,
            parse_mode=get_str(p, "parse_mode"), reply_markup=self._markup(p),
            reply_to=self._reply_target(chat, p), photo=data, photo_url=url,
            photo_sizes=self._photo_sizes(data, url),
        )  # fmt: skip
        return msg.to_json()

    def api_sendChatAction(self: FakeBotApi, p: Params, files: Files) -> bool:
        chat = self._target_chat(p)
        action = get_str(p, "action")
        if not action:
            raise bad_request("action is empty")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.actions.append(ChatAction(action, time.time()))
        self._notify()
        return True

    # ------------------------------------------------------------------ editing & deleting
    def api_editMessageText(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        msg = self._editable(p)
        if msg.text is None:
            raise bad_request("there is no text in the message to edit")
        raw = get_str(p, "text")
        if not raw:
            raise bad_request("message text is empty")
        parse_mode = get_str(p, "parse_mode")
        text, entities = parse_text(raw, parse_mode, get_json(p, "entities", list))
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_MESSAGE_LENGTH:
            raise bad_request("message is too long")
        markup = self._markup(p, inline_only=True)
        if text == msg.text and entities == msg.entities and self._same_keyboard(msg, markup):
            raise bad_request(NOT_MODIFIED)
        self._apply_edit(
            msg, text=text, entities=entities, raw_text=raw, parse_mode=parse_mode, reply_markup=markup
        )
        return msg.to_json()

    def api_editMessageCaption(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        msg = self._editable(p)
        if msg.text is not None:
            raise bad_request("there is no caption in the message to edit")
        caption, caption_entities, raw = self._caption(p)
        markup = self._markup(p, inline_only=True)
        if (
            caption == msg.caption
            and caption_entities == msg.caption_entities
            and self._same_keyboard(msg, markup)
        ):
            raise bad_request(NOT_MODIFIED)
        self._apply_edit(
            msg, caption=caption, caption_entities=caption_entities, raw_text=raw,
            parse_mode=get_str(p, "parse_mode"), reply_markup=markup,
        )  # fmt: skip
        return msg.to_json()

    def api_editMessageReplyMarkup(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        msg = self._editable(p)
        markup = self._markup(p, inline_only=True)
        if self._same_keyboard(msg, markup):
            raise bad_request(NOT_MODIFIED)
        self._apply_edit(msg, reply_markup=markup)
        return msg.to_json()

    def api_deleteMessage(self: FakeBotApi, p: Params, files: Files) -> bool:
        chat = self._target_chat(p)
        message_id = get_int(p, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        msg = chat.find(message_id)
        if msg is None or msg.deleted:
            raise bad_request("message to delete not found")
        if not msg.from_bot and chat.type != "private":
            raise bad_request("message can't be deleted")
        msg.deleted = True
        msg.deleted_at = time.time()
        self._notify()
        return True

    # ------------------------------------------------------------------ callbacks, commands, files
    def api_answerCallbackQuery(self: FakeBotApi, p: Params, files: Files) -> bool:
        query = self.callback_queries.get(get_str(p, "callback_query_id") or "")
        if query is None or query.answered:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        query.answered = True
        query.answer = {
            "text": get_str(p, "text"),
            "show_alert": get_bool(p, "show_alert"),
            "url": get_str(p, "url"),
            "cache_time": get_int(p, "cache_time", 0),
            "time": time.time(),
        }
        self._notify()
        return True

    def api_setMyCommands(self: FakeBotApi, p: Params, files: Files) -> bool:
        commands = get_json(p, "commands", list, "commands")
        if commands is None:
            raise bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        cleaned = []
        for cmd in commands:
            if not isinstance(cmd, dict):
                raise bad_request("can't parse BotCommand")
            name, description = cmd.get("command"), cmd.get("description")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._scope_key(p)
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def api_getMyCommands(self: FakeBotApi, p: Params, files: Files) -> list[dict[str, Any]]:
        return list(self.commands.get(self._scope_key(p), []))

    def api_deleteMyCommands(self: FakeBotApi, p: Params, files: Files) -> bool:
        self.commands.pop(self._scope_key(p), None)
        return True

    def commands_for(
        self: FakeBotApi, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict]:
        """Commands set for ``scope`` (default scope if None) and language, as the bot set them."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return list(self.commands.get(key, []))

    def api_setMyDescription(self: FakeBotApi, p: Params, files: Files) -> bool:
        self.descriptions[("description", get_str(p, "language_code", "") or "")] = (
            get_str(p, "description", "") or ""
        )
        return True

    def api_getMyDescription(self: FakeBotApi, p: Params, files: Files) -> dict[str, str]:
        lang = get_str(p, "language_code", "") or ""
        return {"description": self.descriptions.get(("description", lang), "")}

    def api_setMyShortDescription(self: FakeBotApi, p: Params, files: Files) -> bool:
        lang = get_str(p, "language_code", "") or ""
        self.descriptions[("short_description", lang)] = get_str(p, "short_description", "") or ""
        return True

    def api_getMyShortDescription(self: FakeBotApi, p: Params, files: Files) -> dict[str, str]:
        lang = get_str(p, "language_code", "") or ""
        return {"short_description": self.descriptions.get(("short_description", lang), "")}

    def api_getFile(self: FakeBotApi, p: Params, files: Files) -> dict[str, Any]:
        stored = self.files.get(get_str(p, "file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------ helpers
    def _target_chat(self: FakeBotApi, p: Params) -> FakeChat:
        chat_id = get_chat_id(p)
        if isinstance(chat_id, str):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == chat_id), None)
            if chat is not None and chat.type == "private":
                chat = None  # private chats cannot be addressed by username
        else:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat.type == "private":
            if chat.blocked:
                raise ApiError(403, BLOCKED)
            if not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    def _editable(self: FakeBotApi, p: Params) -> FakeMessage:
        if p.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the fake Bot API")
        chat = self._target_chat(p)
        message_id = get_int(p, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        msg = chat.find(message_id)
        if msg is None or msg.deleted:
            raise bad_request("message to edit not found")
        if not msg.from_bot:
            raise bad_request("message can't be edited")
        return msg

    def _caption(self: FakeBotApi, p: Params) -> tuple[str | None, list[dict[str, Any]], str | None]:
        raw = get_str(p, "caption")
        if not raw:
            return None, [], None
        caption, entities = parse_text(raw, get_str(p, "parse_mode"), get_json(p, "caption_entities", list))
        if utf16_len(caption) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return caption, entities, raw

    def _markup(self: FakeBotApi, p: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
        markup = get_json(p, "reply_markup", dict, "reply keyboard markup")
        if markup is None:
            return None
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request(
                    'can\'t parse inline keyboard button: field "inline_keyboard" must be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    _check_inline_button(button)
            return markup
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request('can\'t parse keyboard button: field "keyboard" must be an Array of Arrays')
            return markup
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    @staticmethod
    def _same_keyboard(msg: FakeMessage, markup: dict[str, Any] | None) -> bool:
        new = (markup or {}).get("inline_keyboard") or []
        return new == msg.inline_keyboard

    def _reply_target(self: FakeBotApi, chat: FakeChat, p: Params) -> FakeMessage | None:
        params = get_json(p, "reply_parameters", dict, "reply parameters") or {}
        message_id = params.get("message_id") if params else get_int(p, "reply_to_message_id")
        if message_id is None:
            return None
        allow = params.get("allow_sending_without_reply", get_bool(p, "allow_sending_without_reply"))
        target = chat.find(message_id)
        if target is None or target.deleted:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return target

    def _photo_sizes(self: FakeBotApi, data: bytes | None, url: str | None) -> list[dict[str, Any]]:
        width, height = image_size(data) if data else (800, 600)
        full = self._store_file(data or b"", "photo", "jpg")
        scale = min(1.0, 90 / max(width, height))
        thumb = self._store_file(data or b"", "photo", "jpg")
        sizes = []
        for stored, w, h in ((thumb, width * scale, height * scale), (full, width, height)):
            sizes.append({
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": max(1, round(w)),
                "height": max(1, round(h)),
                "file_size": len(stored.data),
            })  # fmt: skip
        return sizes

    def _add_bot_message(
        self: FakeBotApi, chat: FakeChat, method: str, p: Params, **fields: Any
    ) -> FakeMessage:
        now = time.time()
        extra_keys = {"disable_notification", "protect_content", "link_preview_options", "message_thread_id"}
        msg = FakeMessage(
            chat_id=chat.id,
            message_id=chat.new_message_id(),
            from_bot=True,
            sender=self.bot_user,
            chat=chat.to_json(),
            date=int(now),
            sent_at=now,
            method=method,
            extra={k: v for k, v in p.items() if k in extra_keys},
            **fields,
        )
        chat.messages.append(msg)
        self._notify()
        return msg

    def _apply_edit(self: FakeBotApi, msg: FakeMessage, **changes: Any) -> None:
        msg.versions.append(msg.snapshot())
        for key, value in changes.items():
            setattr(msg, key, value)
        msg.edited_at = time.time()
        msg.edit_date = int(msg.edited_at)
        self._notify()

    def _scope_key(self: FakeBotApi, p: Params) -> tuple[str, str]:
        scope = get_json(p, "scope", dict, "scope") or {"type": "default"}
        if scope.get("type") not in COMMAND_SCOPES:
            raise bad_request("wrong parameter scope")
        if scope["type"] in ("chat", "chat_administrators", "chat_member") and "chat_id" not in scope:
            raise bad_request("chat_id is empty")
        language = get_str(p, "language_code", "") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return json.dumps(scope, sort_keys=True), language


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
    if not button["text"]:
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [k for k in BUTTON_ACTIONS if k in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            "can't parse inline keyboard button: only one of the optional fields must be specified"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not re.match(r"(https?|tg)://\S+$", str(button["url"])):
        raise bad_request(f"inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL")
