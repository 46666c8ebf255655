"""A fake Telegram Bot API server for end-to-end tests with the real python-telegram-bot.

    server = FakeBotApi()                       # or the ``fake_bot_api`` fixture
    await server.start()
    app = application_builder(server).build()   # token/base_url/base_file_url filled in
    alex = server.user(42, "Alex")
    await alex.send_command("/start")
    reply = await alex.wait_for_message()
    await alex.click("Yes")

Texts are stored as Telegram stores them: with ``parse_mode`` the markup is stripped into
``entities`` (``FakeMessage.raw_text`` keeps what the bot sent).
"""

from .actors import FakeGroup, FakeUser
from .formatting import parse_text, utf16_len
from .models import (
    TINY_PNG,
    ApiError,
    CallbackQueryRecord,
    CallRecord,
    ChatAction,
    FakeChat,
    FakeMessage,
    Fault,
    RateLimitConfig,
    StoredFile,
    UploadedFile,
    WaitTimeout,
    WebhookDelivery,
)
from .ptb import application_builder, make_bot, running_polling, running_webhook
from .server import DEFAULT_EXCLUDED_UPDATES, FakeBotApi

__all__ = [
    "DEFAULT_EXCLUDED_UPDATES",
    "TINY_PNG",
    "ApiError",
    "CallRecord",
    "CallbackQueryRecord",
    "ChatAction",
    "FakeBotApi",
    "FakeChat",
    "FakeGroup",
    "FakeMessage",
    "FakeUser",
    "Fault",
    "RateLimitConfig",
    "StoredFile",
    "UploadedFile",
    "WaitTimeout",
    "WebhookDelivery",
    "application_builder",
    "make_bot",
    "parse_text",
    "running_polling",
    "running_webhook",
    "utf16_len",
]
