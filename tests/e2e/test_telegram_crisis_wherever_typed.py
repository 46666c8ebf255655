"""Words of risk are heard wherever a patient types them, through the real bot: after a command word,
in a photo's caption, in an edit, and mid-onboarding. Each gets the crisis resources, one urgent
escalation and the coach's card, the same as plain text (hazard: a crisis statement missed because it
came with a command)."""

from __future__ import annotations

import pytest

from coachbot.adapters.db.models import Escalation
from tests.support.coachbot_telegram import add_coach, count, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi, FakeUser

COACH_ID = 900
STATEMENT = "I plan to end my life tonight"


async def to_name_question(alex: FakeUser) -> None:
    await alex.send_command("/start")
    await alex.wait_for_message(lambda m: bool(m.buttons))
    await alex.click("Yes")
    await alex.wait_for_message(lambda m: "call you" in m.text)


async def say_it(alex: FakeUser, how: str) -> None:
    if how == "plain":
        await alex.send_text(STATEMENT)
    elif how == "caption":
        await alex.send_photo(caption=STATEMENT)
    elif how == "edit":
        sent = await alex.send_text("Alex")
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await alex.edit_text(sent.message_id, STATEMENT)
    else:  # after a command word: "/help I plan ...", "/checkin ...", "/steps ...", "/weather ..."
        await alex.send_command(how, STATEMENT)


@pytest.mark.parametrize("how", ["plain", "/help", "/checkin", "/steps", "/settings", "/mydata",
                                 "/flareplan", "/weather", "caption", "edit"])
async def test_a_crisis_statement_wherever_typed_starts_the_crisis_flow_and_alerts_the_coach(
        fake_bot_api: FakeBotApi, database_url: str, how: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await to_name_question(alex)
        await say_it(alex, how)
        resources = await alex.wait_for_message(lambda m: "Samaritans" in m.text)
        alert = await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        await settled(fake_bot_api, bot)
        escalations = await count(bot, Escalation)
    assert "116 123" in resources.text and "999" in resources.text
    assert "Here are the words you can type" not in resources.text
    assert alert.content.startswith("URGENT (act today) alert for patient P-")
    assert "Rule: crisis" in alert.content and "end my life" not in alert.content
    assert escalations == 1


async def test_a_stopped_patient_in_crisis_gets_the_resources_and_can_answer_the_questions(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url):
        await to_name_question(alex)
        await alex.send_text("stop")
        await alex.wait_for_message(lambda m: "stopped all messages" in m.text)
        await alex.send_text(STATEMENT)
        asked = await alex.wait_for_message(lambda m: "Are you thinking about ending your life" in m.text)
        await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        await alex.click("Yes", message=asked)
        plan = await alex.wait_for_message(lambda m: "plan to end your life" in m.text
                                           or "Your messages are stopped" in m.text)
    assert "plan to end your life" in plan.text
