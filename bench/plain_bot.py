"""The yardstick for `bench.memory`: a plain python-telegram-bot bot, polling and echoing text.

It is what a minimal PTB bot is: `Application.builder()` with PTB's own defaults (its `HTTPXRequest`),
one handler, `run_polling`. No database, no dialogs, no scheduler, no coachbot import. `bench.memory`
starts it exactly as it starts `coachbot run` and measures it the same way, so the bot's figures can
be quoted as a ratio to this one, which moves less with the machine's load than either figure alone.

Run: `python -m bench.plain_bot` with COACHBOT_TELEGRAM_TOKEN and COACHBOT_TELEGRAM_BASE_URL set (the
fake Bot API server's); stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the text received."""
    if update.effective_message is not None and update.effective_message.text:
        await update.effective_message.reply_text(update.effective_message.text)


def main() -> None:
    base_url = os.environ["COACHBOT_TELEGRAM_BASE_URL"].rstrip("/")
    base_url = base_url if base_url.endswith("/bot") else base_url + "/bot"
    application = (Application.builder().token(os.environ["COACHBOT_TELEGRAM_TOKEN"]).base_url(base_url)
                   .base_file_url(base_url.removesuffix("/bot") + "/file/bot").build())
    application.add_handler(MessageHandler(filters.TEXT, echo))
    timeout = float(os.environ.get("COACHBOT_TELEGRAM_POLL_TIMEOUT", "10"))
    application.run_polling(timeout=int(timeout), poll_interval=0.0)


if __name__ == "__main__":
    main()
