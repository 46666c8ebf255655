"""One outbox row as one Bot API call: the only place that knows how each kind of row is sent.

Every call is one of PTB's public Bot methods, so a refusal arrives as PTB's exception (Forbidden,
RetryAfter, BadRequest, TimedOut, NetworkError), which is what the sender's retries are built on."""

from __future__ import annotations

import base64
import logging

from telegram import Bot, InlineKeyboardMarkup, Message

from coachbot.adapters.charts import CHART_KIND as CHART
from coachbot.adapters.charts import draw, render_chart_row, render_escalation_chart
from coachbot.adapters.telegram import alert_card
from coachbot.adapters.telegram.keyboards import button_key, markup, signed
from coachbot.app.channel import QueuedMessage

log = logging.getLogger("coachbot.telegram.outbox")


async def call(bot: Bot, row: QueuedMessage) -> int | None:
    """Send `row`; returns the message id Telegram gave it (None for an edit that only drops buttons)."""
    payload = row.payload
    if row.kind == "text":
        sent = await bot.send_message(row.chat_id, payload["text"],
                                      reply_markup=_markup(bot, row))
        return sent.message_id
    if row.kind == "edit":
        message_id = int(payload["message_id"])
        keyboard = _markup(bot, row)  # None: Telegram drops the keyboard with the edit
        if "caption" in payload:  # an alert card: the photo stays, its caption and buttons change
            edited = await bot.edit_message_caption(chat_id=row.chat_id, message_id=message_id,
                                                    caption=payload["caption"], reply_markup=keyboard)
        elif "text" in payload:
            edited = await bot.edit_message_text(payload["text"], chat_id=row.chat_id, message_id=message_id,
                                                 reply_markup=keyboard)
        else:
            edited = await bot.edit_message_reply_markup(chat_id=row.chat_id, message_id=message_id,
                                                         reply_markup=None)
        return edited.message_id if isinstance(edited, Message) else message_id
    if row.kind == "document":
        sent = await bot.send_document(row.chat_id, document=payload["content"].encode(),
                                       filename=payload["filename"], caption=payload.get("caption"))
        return sent.message_id
    if row.kind == "photo" and "chart" in payload:
        return await _chart(bot, row)
    if row.kind == "photo":
        sent = await bot.send_photo(row.chat_id, photo=base64.b64decode(payload["data"]),
                                    caption=payload.get("caption"),
                                    reply_markup=_markup(bot, row))
        return sent.message_id
    if row.kind == CHART:  # drawn now, in the drawing process, never inside a transaction
        png = await draw(render_chart_row, payload)
        sent = await bot.send_photo(row.chat_id, photo=png, caption=payload.get("caption"))
        return sent.message_id
    raise ValueError(f"unknown outbox kind {row.kind!r}")


async def _chart(bot: Bot, row: QueuedMessage) -> int:
    """An alert card: the chart is drawn now, in the drawing process (the event loop keeps serving); if
    drawing fails the card goes as text with its buttons, because an alert must never be lost."""
    payload = row.payload
    try:
        png = await draw(render_escalation_chart, payload["chart"])
    except Exception as exc:  # a bad chart must not hold back the alert
        log.error("could not draw the chart of outbox row %s (%s); sending the card as text", row.id,
                  type(exc).__name__)
        sent = await bot.send_message(row.chat_id, payload["caption"],
                                      reply_markup=_markup(bot, row))
        return sent.message_id
    sent = await bot.send_photo(row.chat_id, photo=png, caption=payload.get("caption"),
                                reply_markup=_markup(bot, row))
    return sent.message_id


def _markup(bot: Bot, row: QueuedMessage) -> InlineKeyboardMarkup | None:
    """The row's keyboard with answer buttons signed for its chat (see `keyboards.verify`)."""
    rows = row.payload.get("keyboard")
    if not rows or all(alert_card.parse(str(data)) is not None for line in rows for _, data in line):
        return markup(rows)  # an alert card's buttons only: checked against the coach's role instead
    return markup(signed(rows, button_key(bot.token), row.chat_id,
                         leave=lambda data: alert_card.parse(data) is not None))
