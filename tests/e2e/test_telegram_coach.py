"""Coaches in Telegram: greeted as coaches, and told about escalations in their own chat."""

from __future__ import annotations

from coachbot.adapters.db.models import Escalation
from tests.support.coachbot_telegram import add_coach, count, outbox_rows, patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi, FakeUser

COACH_ID = 900


async def to_name_question(alex: FakeUser) -> None:
    await alex.send_command("/start")
    await alex.wait_for_message(lambda m: bool(m.buttons))
    await alex.click("Yes")
    await alex.wait_for_message(lambda m: "call you" in m.text)


async def test_registered_coach_is_greeted_as_coach_never_onboarded(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    async with running_bot(fake_bot_api, database_url) as bot:
        await sam.send_command("/start")
        greeting = await sam.wait_for_message()
        await sam.send_text("hello")
        pointer = await sam.wait_for_message()
        await settled(fake_bot_api, bot)
        assert await patient(bot, COACH_ID) is None
    assert greeting.text.startswith("Hello Sam. You are registered as a coach.")
    assert greeting.buttons == []
    assert "I do not know that command" in pointer.text
    coach_menu = fake_bot_api.commands_for({"type": "chat", "chat_id": COACH_ID})
    assert [c["command"] for c in coach_menu] == ["start", "help", "queue", "patient", "note", "message",
                                                 "close", "handover", "resolve", "rebase", "pin", "block"]


async def test_red_flag_answer_alerts_the_patients_coach(fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await to_name_question(alex)
        await alex.send_text("Alex")
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await alex.click("No")
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        await alex.click("Yes")  # a same-day red flag: the coach hears about it
        await alex.wait_for_message(lambda m: "urgent appointment today" in m.text)
        alert = await sam.wait_for_message()
        label = (await patient(bot, 42)).label  # type: ignore[union-attr]
    assert alert.content.splitlines()[0] == f"Soon (next working day) alert for patient {label}"
    assert "Rule: red_flag_urgent" in alert.content
    assert "Evidence: consent=1; rf_emergency=0; rf_urgent=1" in alert.content
    assert alert.photo is None  # no check-ins yet: nothing to draw, and the card says so
    assert alert.content.splitlines()[-1] == "No check-ins yet in the last 14 days: no chart to show."
    assert alert.buttons == [["Acknowledge", "Resolve"], ["Message patient"]]
    assert "Alex" not in alert.content  # pseudonymous: the label, never the name


async def test_crisis_phrase_mid_question_gets_resources_then_coach_alert(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await to_name_question(alex)
        await alex.send_text("some days I want to die")
        resources = await alex.wait_for_message(lambda m: "Samaritans" in m.text)
        alert = await sam.wait_for_message()
        await settled(fake_bot_api, bot)
        rows = await outbox_rows(bot)
    assert "116 123" in resources.text and "999" in resources.text
    assert resources.buttons == [["Yes", "No"]]  # resources first, the first direct question with them
    assert alert.content.startswith("URGENT (act today) alert for patient P-")
    assert "Rule: crisis" in alert.content and "want to die" not in alert.content
    crisis = [r for r in rows if r.chat_id in (42, COACH_ID)][-2:]
    assert [r.chat_id for r in crisis] == [42, COACH_ID] and {r.lane for r in crisis} == {0}
    assert crisis[0].sent_at is not None and crisis[1].escalation_id is not None


async def test_alert_raised_before_any_coach_waits_for_the_first_one(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    async with running_bot(fake_bot_api, database_url) as bot:
        await to_name_question(alex)
        await alex.send_text("I want to die")
        await alex.wait_for_message(lambda m: "Samaritans" in m.text)
        await settled(fake_bot_api, bot)
        assert await count(bot, Escalation) == 1
        await add_coach(database_url, COACH_ID, "Sam")
        await sam.send_command("/start")
        # The waiting card is sent first: alert cards go ahead of anything else queued in a chat.
        alert = await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        await sam.wait_for_message(lambda m: "registered as a coach" in m.text)
        row = await patient(bot, 42)
    assert "Rule: crisis" in alert.content
    assert row is not None and row.coach_id is not None
