"""Logs carry pseudonymous labels, never the bot token, a patient's name or what they wrote: checked
through the real bot with Telegram failing in every way the outbox handles (400, 403, 429, 502, a
network error), with the logging `coachbot run` sets up (library loggers quietened) and everything of
coachbot's own down to DEBUG, tracebacks included."""

from __future__ import annotations

import logging
import traceback

import pytest

from coachbot.adapters.telegram.app import quiet_library_loggers
from tests.support.coachbot_telegram import add_coach, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi

COACH_ID = 900
NAME = "Zephyrine"
WORDS = "my back hurts after gardening with Rufus"
CRISIS = "I want to end my life"


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record's message and, where there is one, its whole traceback."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


async def test_no_log_line_or_traceback_carries_the_token_a_name_or_a_patients_words(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    quiet_library_loggers()
    caplog.set_level(logging.DEBUG, logger="coachbot")
    caplog.set_level(logging.INFO)
    await add_coach(database_url, COACH_ID, "Sam Coachperson")
    sam = fake_bot_api.user(COACH_ID, "Sam Coachperson")
    alex = fake_bot_api.user(42, NAME)
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        fake_bot_api.inject_fault("sendMessage", status=502, chat_id=42)  # retried
        fake_bot_api.inject_fault("sendMessage", status=429, retry_after=1, chat_id=42)  # waited out
        await alex.send_text(NAME)
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        fake_bot_api.inject_fault("sendMessage", status=400, chat_id=42)  # refused: given up, logged
        await alex.send_text(WORDS)
        await settled(fake_bot_api, bot)
        await alex.send_text(CRISIS)
        await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        fake_bot_api.inject_fault("sendMessage", status=403, chat_id=42)  # then they block the bot
        await alex.send_text("are you there")
        await settled(fake_bot_api, bot)
    said = everything_logged(caplog)
    assert caplog.records, "the run logged something"
    assert "P-" in said, "logs name patients by their pseudonymous label"
    for secret in (fake_bot_api.token, fake_bot_api.token.split(":")[-1], NAME, "Coachperson", WORDS,
                   CRISIS, "end my life", "Rufus"):
        assert secret not in said, f"{secret!r} was logged"
