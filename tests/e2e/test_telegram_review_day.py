"""The weekly review day typed as a number through the real bot (PTB over HTTP, the fake Bot API, a real
database): 1 is Monday and 7 is Sunday, at onboarding and in /settings, and the weekly review moves
to that day; 0 is asked again and changes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from coachbot.adapters.db.models import Schedule
from coachbot.adapters.telegram.app import TelegramBot
from tests.support.basics import Clock
from tests.support.coachbot_telegram import patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi


async def weekly_due(bot: TelegramBot, patient_id: int) -> dt.datetime | None:
    async with bot.core.sessions() as session:
        return (await session.execute(select(Schedule.next_due_at).where(
            Schedule.patient_id == patient_id, Schedule.dialog == "weekly"))).scalar_one()


async def test_a_typed_1_is_monday_at_onboarding_and_7_is_sunday_in_settings(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    # Wednesday 10 June 2026, 07:00 in London (BST).
    clock = Clock(dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC))
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url, clock=clock) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        for typed, next_question in [("yes", "call you"), ("Alex", "Do you have any of these"),
                                     ("no", "And do you have any of these"), ("no", "usually been"),
                                     ("6", "mood usually"), ("4", "diabetes"), ("no", "your work"),
                                     ("working", "What time of day"), ("9am", "Which day suits you"),
                                     ("1", "Where are you"), ("UK", "You are all set")]:
            await alex.send_text(typed)
            await alex.wait_for_message(lambda m, words=next_question: words in m.text)
        await settled(fake_bot_api, bot)
        onboarded = await patient(bot, 42)
        assert onboarded is not None
        monday = await weekly_due(bot, onboarded.id)

        await alex.send_command("/settings")
        await alex.wait_for_message(lambda m: "What time of day would you like" in m.text)
        await alex.send_text("skip")
        await alex.wait_for_message(lambda m: "Where are you" in m.text)
        await alex.send_text("skip")
        await alex.wait_for_message(lambda m: "weekly review" in m.text)
        await alex.send_text("0")
        reask = await alex.wait_for_message(lambda m: "Please tap a day" in m.text)
        unchanged = await patient(bot, 42)
        await alex.send_text("7")
        saved = await alex.wait_for_message(lambda m: "Thank you" in m.text)
        await settled(fake_bot_api, bot)
        after = await patient(bot, 42)
        sunday = await weekly_due(bot, onboarded.id)
    assert onboarded.weekly_review_day == 0
    assert monday == dt.datetime(2026, 6, 15, 8, 0, tzinfo=dt.UTC)  # 09:00 BST next Monday
    assert "1 is Monday and 7 is Sunday" in reask.text
    assert unchanged is not None and unchanged.weekly_review_day == 0
    assert after is not None and after.weekly_review_day == 6
    assert "Your weekly review will now come on Sunday." in saved.text
    assert sunday == dt.datetime(2026, 6, 14, 8, 0, tzinfo=dt.UTC)
