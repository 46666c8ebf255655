"""A red flag typed as free text while setting up, through the real bot (PTB over HTTP, the fake Bot
API, a real database): the safety message and the coach's card come first, then onboarding carries on
at its question and ends with a check-in scheduled and a usual pain and mood stored."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from coachbot.adapters.db.models import Escalation, Schedule
from tests.support.coachbot_telegram import add_coach, measurements, patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi

COACH_ID = 900


@pytest.mark.parametrize("typed,advice,card", [
    ("I can't control my bladder", "call 999 or go to A&E now", "URGENT (act today) alert"),
    ("my leg has gone weak", "urgent appointment today", "Soon (next working day) alert"),
])
async def test_a_red_flag_typed_while_setting_up_alerts_the_coach_and_onboarding_still_finishes(
        fake_bot_api: FakeBotApi, database_url: str, typed: str, advice: str, card: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        await alex.send_text("Alex")
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await alex.click("No")
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        await alex.send_text("no")
        await alex.wait_for_message(lambda m: "how bad has your back pain usually been" in m.text)
        await alex.send_text("6")
        await alex.wait_for_message(lambda m: "how has your mood usually been" in m.text)

        seen = len(alex.messages())
        await alex.send_text(typed)
        await alex.wait_for_message(lambda m: "how has your mood usually been" in m.text)
        said = "\n".join(m.text for m in alex.messages()[seen:])
        alert = await sam.wait_for_message()

        await alex.send_text("4")
        await alex.wait_for_message(lambda m: "Do you have diabetes" in m.text)
        await alex.send_text("no")
        await alex.wait_for_message(lambda m: "best describes your work" in m.text)
        await alex.send_text("working")
        await alex.wait_for_message(lambda m: "What time of day" in m.text)
        await alex.send_text("9am")
        await alex.wait_for_message(lambda m: "Which day suits you" in m.text)
        await alex.send_text("Sunday")
        await alex.wait_for_message(lambda m: "Where are you" in m.text)
        await alex.send_text("UK")
        await alex.wait_for_message(lambda m: "You are all set" in m.text)
        await settled(fake_bot_api, bot)
        alex_row = await patient(bot, 42)
        measured = dict(await measurements(bot, 42))
        async with bot.core.sessions() as session:
            assert alex_row is not None
            daily = (await session.execute(select(Schedule.next_due_at).where(
                Schedule.patient_id == alex_row.id, Schedule.dialog == "daily"))).scalar_one_or_none()
            escalations = (await session.execute(select(Escalation.rule, Escalation.status))).all()
    assert said.index(advice) < said.index("finish setting up") < said.index("how has your mood usually")
    assert alert.content.startswith(card) and typed not in alert.content
    assert alex_row.onboarded_at is not None and alex_row.status == "active"
    assert alex_row.checkin_time is not None and alex_row.checkin_time.hour == 9
    assert measured["pain_usual"] == 6 and measured["mood_usual"] == 4
    assert daily is not None, "the first daily check-in is scheduled"
    assert [status for _, status in escalations] == ["open"]
