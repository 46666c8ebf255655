"""Handling one update: classify it, apply it in one transaction, then answer presses and start sending.

Updates of different chats run concurrently (a slow database round trip for one patient never holds
up another), while each chat's updates run one at a time in arrival order, so a patient's answers
are never applied out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor, ContextTypes

from coachbot.adapters.telegram.inbound import chat_key, classify
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.adapters.telegram.outbox import OutboxSender
from coachbot.adapters.telegram.unreadable import Readable
from coachbot.app.channel import EditedText
from coachbot.app.failures import described
from coachbot.app.pipeline import PatientService
from coachbot.spec.model import COACH_COMMANDS, PATIENT_COMMANDS, ChannelMessages

log = logging.getLogger("coachbot.telegram")


class PerChatProcessor(BaseUpdateProcessor):
    """Up to `max_concurrent_updates` at once, but one at a time per chat, in the order they came."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up: locks are made per chat on demand."""

    async def shutdown(self) -> None:
        """Nothing to free."""


class UpdateHandler:
    """The one PTB callback: every update goes through the service, never through PTB persistence."""

    def __init__(self, service: PatientService, channel: TelegramChannel, sender: OutboxSender, *,
                 on_done: Callable[[int, bool], None] | None = None,
                 unreadable: Callable[[int], Readable | None] | None = None) -> None:
        self.service, self.channel, self.sender = service, channel, sender
        self.on_done = on_done
        self.unreadable = unreadable

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Handle it, then report `on_done(update_id, committed)`: committed, or failed (and logged by
        PTB's error handler). Polling confirms it either way; webhook mode asks Telegram for it again."""
        committed = False
        try:
            await self._handle(update, context)
            committed = True
        finally:
            if self.on_done is not None:
                self.on_done(update.update_id, committed)

    async def _handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        classified = classify(update, self.channel)
        readable = self.unreadable(update.update_id) if self.unreadable is not None else None
        if classified is None and readable is not None:
            # An update the library could not read: not an answer, but its words are screened for
            # crisis like an edit's (no notice: the patient did nothing unusual).
            classified = readable.chat_id, EditedText(text=readable.text)
        query = update.callback_query
        if classified is None:
            if query is not None:
                await self._answer(update, None)
            return
        chat_id, event = classified
        result = await self.service.handle_update(update.update_id, chat_id, event)
        self.sender.offer(result.queued)
        if query is not None:
            expired = result.accepted_press is False or (
                result.accepted_press is None and not result.duplicate)
            await self._answer(update, self.channel.messages.button_expired if expired else None)
        if result.coach_started:
            await set_coach_commands(context.bot, self.channel.messages, chat_id)

    @staticmethod
    async def _answer(update: Update, text: str | None) -> None:
        """Stop the button's spinner; a query answered before (a redelivery) is fine to skip."""
        assert update.callback_query is not None
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(text=text)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update by id, error class and code location only: an exception's message may
    quote the update's text or a database row (health information), so it is left out."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %s", update_id,
              described(context.error) if context.error is not None else "no error given")


async def set_patient_commands(bot: Any, messages: ChannelMessages) -> None:
    """The menu every private chat shows (patients, and anyone not yet known)."""
    await bot.set_my_commands([BotCommand(c, messages.patient_commands[c]) for c in PATIENT_COMMANDS])


async def set_coach_commands(bot: Any, messages: ChannelMessages, chat_id: int) -> None:
    """A coach's own menu, set for their chat only."""
    try:
        await bot.set_my_commands([BotCommand(c, messages.coach_commands[c]) for c in COACH_COMMANDS],
                                  scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:
        log.warning("could not set the coach menu for a coach chat: %s", type(exc).__name__)
