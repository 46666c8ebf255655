"""One outbox row as one Bot API call: the only place that knows how each kind of row is sent."""

from __future__ import annotations

import asyncio
import base64

from telegram import Bot, Message

from coachbot.adapters.chart_rows import KIND as CHART
from coachbot.adapters.chart_rows import render_chart_row
from coachbot.adapters.telegram.keyboards import markup
from coachbot.channel import QueuedMessage


async def call(bot: Bot, row: QueuedMessage) -> int | None:
    """Send `row`; returns the message id Telegram gave it (None for an edit that only drops buttons)."""
    payload = row.payload
    if row.kind == "text":
        keyboard = markup(payload.get("keyboard"))
        sent = await bot.send_message(row.chat_id, payload["text"], reply_markup=keyboard)
        return sent.message_id
    if row.kind == "edit":
        message_id = int(payload["message_id"])
        if "text" in payload:  # no reply_markup: Telegram drops the keyboard with the edit
            edited = await bot.edit_message_text(payload["text"], chat_id=row.chat_id, message_id=message_id)
        else:
            edited = await bot.edit_message_reply_markup(chat_id=row.chat_id, message_id=message_id,
                                                         reply_markup=None)
        return edited.message_id if isinstance(edited, Message) else message_id
    if row.kind == "document":
        sent = await bot.send_document(row.chat_id, document=payload["content"].encode(),
                                       filename=payload["filename"], caption=payload.get("caption"))
        return sent.message_id
    if row.kind == "photo":
        sent = await bot.send_photo(row.chat_id, photo=base64.b64decode(payload["data"]),
                                    caption=payload.get("caption"),
                                    reply_markup=markup(payload.get("keyboard")))
        return sent.message_id
    if row.kind == CHART:  # drawn now, in a worker thread, never inside a transaction
        png = await asyncio.to_thread(render_chart_row, payload)
        sent = await bot.send_photo(row.chat_id, photo=png, caption=payload.get("caption"))
        return sent.message_id
    raise ValueError(f"unknown outbox kind {row.kind!r}")
