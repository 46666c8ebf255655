"""Callback data is bound to its chat: made-up or foreign presses are refused through real PTB."""

from __future__ import annotations

import logging

import pytest

from tests.support.coachbot_telegram import patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi, FakeUser
from tests.support.fake_bot_api.models import FakeMessage

STALE_TOAST = "That question is closed. Please answer the newest one."
FORGERY_LOG = "never sent to this chat"
FORGERY_WORDS = "pressed a button whose callback data the bot never sent to this chat"


async def _consent(user: FakeUser) -> FakeMessage:
    await user.send_command("/start")
    return await user.wait_for_message(lambda m: bool(m.buttons))


async def test_made_up_callback_data_is_refused_changes_nothing_and_is_logged_by_label(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    alex = fake_bot_api.user(42, "Alex")
    caplog.set_level(logging.WARNING, logger="coachbot.app.pipeline")
    async with running_bot(fake_bot_api, database_url) as bot:
        consent = await _consent(alex)
        real = consent.callback_data("Yes")
        unsigned = real[real.index(":") - 8:]  # the question token and value, without the signature
        for forged in (unsigned, "A" * 11 + unsigned, "x" * 64):
            toast = (await (await alex.press(consent.message_id, forged)).wait_answered())["text"]
            assert toast == STALE_TOAST
        await settled(fake_bot_api, bot)
        row = await patient(bot, 42)
    assert row is not None and row.consent_at is None
    assert consent.buttons == [["Yes", "No"]]  # the question is still there to answer
    warnings = [r.getMessage() for r in caplog.records if FORGERY_LOG in r.getMessage()]
    assert len(warnings) == 3
    # the label only: no chat id, no name (the message is exactly the label and fixed words)
    assert set(warnings) == {f"{row.label} {FORGERY_WORDS}"}


async def test_callback_data_copied_from_another_chats_message_does_not_answer_for_that_chat(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    alex, sam = fake_bot_api.user(42, "Alex"), fake_bot_api.user(43, "Sam")
    caplog.set_level(logging.WARNING, logger="coachbot.app.pipeline")
    async with running_bot(fake_bot_api, database_url) as bot:
        alex_consent = await _consent(alex)
        sam_consent = await _consent(sam)
        # Same question, same answer: only the chat differs, so only the binding can refuse it.
        foreign = alex_consent.callback_data("Yes")
        toast = (await (await sam.press(sam_consent.message_id, foreign)).wait_answered())["text"]
        await settled(fake_bot_api, bot)
        sam_row, alex_row = await patient(bot, 43), await patient(bot, 42)
        # Sam's own button still works afterwards.
        await (await sam.click("Yes", message=sam_consent)).wait_answered()
        await sam.wait_for_message(lambda m: "call you" in m.text)
        await settled(fake_bot_api, bot)
        sam_after = await patient(bot, 43)
    assert toast == STALE_TOAST
    assert sam_row is not None and sam_row.consent_at is None
    assert alex_row is not None and alex_row.consent_at is None
    assert sam_after is not None and sam_after.consent_at is not None
    assert any(FORGERY_LOG in r.getMessage() for r in caplog.records)
