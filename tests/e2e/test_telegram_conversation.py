"""A patient's conversation through the real bot: real PTB over HTTP, the fake Bot API, a real database."""

from __future__ import annotations

import datetime as dt
import gc
import json
from zoneinfo import ZoneInfo

from sqlalchemy import select

from coachbot.adapters.db.models import ProcessedUpdate, Schedule
from coachbot.adapters.telegram.app import TelegramBot
from tests.support.basics import Clock
from tests.support.coachbot_telegram import (
    count,
    document_of,
    enable_send_document,
    measurements,
    patient,
    running_bot,
    settled,
)
from tests.support.fake_bot_api import FakeBotApi, FakeUser


async def onboard(alex: FakeUser, fake: FakeBotApi) -> None:
    """/start to the end of onboarding, answering by buttons and by typing in turn."""
    await alex.send_command("/start")
    consent = await alex.wait_for_message(lambda m: bool(m.buttons))
    assert consent.buttons == [["Yes", "No"]]
    assert "welcome" in consent.text and "Do you agree" in consent.text  # merged: one message, one ping
    press = await alex.click("Yes")
    assert (await press.wait_answered())["text"] is None
    await alex.wait_for_message(lambda m: "What would you like me to call you" in m.text)
    await fake.wait_until(lambda: "✔ Yes" in consent.text, what="the consent question edited")
    assert consent.buttons == []
    await alex.send_text("Alex")
    emergency = await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
    await alex.click("No", message=emergency)
    await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
    await alex.send_text("no")
    pain = await alex.wait_for_message(lambda m: "how bad has your back pain usually been" in m.text)
    assert pain.buttons == [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]
    await alex.click("3", message=pain)
    await alex.wait_for_message(lambda m: "how has your mood usually been" in m.text)
    await alex.send_text("6")
    await alex.wait_for_message(lambda m: "Do you have diabetes" in m.text)
    await alex.send_text("no")
    work = await alex.wait_for_message(lambda m: "best describes your work" in m.text)
    await alex.click("Working", message=work)
    await alex.wait_for_message(lambda m: "What time of day" in m.text)
    await alex.send_text("9am")
    day = await alex.wait_for_message(lambda m: "Which day suits you" in m.text)
    await alex.click("Sunday", message=day)
    await alex.wait_for_message(lambda m: "Where are you" in m.text)
    await alex.send_text("UK")
    await alex.wait_for_message(lambda m: "You are all set" in m.text)


async def test_new_patient_onboards_and_checks_in_by_buttons_and_typing(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        await alex.send_command("/checkin")
        pain = await alex.wait_for_message(lambda m: "How bad is your back pain right now" in m.text)
        assert pain.text.startswith("Hello Alex. Time for your check-in")
        await alex.click("7", message=pain)
        await alex.wait_for_message(lambda m: "how is your mood right now" in m.text)
        await alex.send_text("4")
        await alex.wait_for_message(lambda m: "anything else you would like your coach to know" in m.text)
        await alex.send_text("skip")
        await alex.wait_for_message(lambda m: "That is today's check-in done" in m.text)
        await settled(fake_bot_api, bot)
        stored = await measurements(bot, 42)
        row = await patient(bot, 42)

    assert stored == [("rf_emergency", 0.0), ("rf_urgent", 0.0), ("pain_usual", 3.0), ("mood_usual", 6.0),
                      ("neuropathy", 0.0), ("work_status", "working"), ("pain_now", 7.0), ("mood_now", 4.0)]
    assert row is not None and row.name == "Alex" and row.status == "active" and row.onboarded_at
    assert pain.text.endswith("✔ 7") and pain.buttons == []
    sends = fake_bot_api.calls_to("sendMessage")
    assert all(c.status == 200 for c in sends)
    assert all(len(b["callback_data"].encode()) <= 64 for c in sends
               for row_ in (c.params.get("reply_markup") or {}).get("inline_keyboard", []) for b in row_)


async def test_command_menus_are_set_for_patients(fake_bot_api: FakeBotApi, database_url: str) -> None:
    async with running_bot(fake_bot_api, database_url):
        pass
    commands = [c["command"] for c in fake_bot_api.commands_for()]
    assert commands == ["start", "checkin", "steps", "flareplan", "settings", "pause", "resume", "stop",
                        "help", "mydata", "forget"]


async def test_what_start_up_built_is_frozen_out_of_full_collections_once_taking_updates(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    gc.unfreeze()  # the process-wide freeze of an earlier test would make this pass on its own
    try:
        async with running_bot(fake_bot_api, database_url):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_second_press_and_old_question_record_nothing_and_explain(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        consent = await alex.wait_for_message(lambda m: bool(m.buttons))
        data = consent.callback_data("Yes")
        first = await alex.click("Yes")
        await first.wait_answered()
        await alex.wait_for_message(lambda m: "call you" in m.text)
        again = await alex.press(consent.message_id, data)  # a double tap, after the answer counted
        toast = (await again.wait_answered())["text"]
        assert toast == "That question is closed. Please answer the newest one."
        stale = await alex.wait_for_message(lambda m: "no longer works" in m.text)
        await settled(fake_bot_api, bot)
        row = await patient(bot, 42)
        processed = await count(bot, ProcessedUpdate)
    assert row is not None and row.consent_at is not None
    assert stale.buttons == []
    assert processed == 3  # /start, both presses


async def test_mydata_sends_a_json_file_of_profile_and_answers(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    enable_send_document(fake_bot_api)
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        await alex.send_command("/mydata")
        document = await alex.wait_for_message(lambda m: m.method == "sendDocument")
        await settled(fake_bot_api, bot)
    data = json.loads(document_of(document))
    assert data["profile"]["name"] == "Alex" and data["profile"]["timezone"] == "Europe/London"
    assert [m["code"] for m in data["measurements"]] == ["rf_emergency", "rf_urgent", "pain_usual",
                                                        "mood_usual", "neuropathy", "work_status"]
    assert document.caption.startswith("Here is a copy of the information")


async def test_settings_change_the_checkin_time_and_zone_and_move_the_next_checkin(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        before = await patient(bot, 42)
        await alex.send_command("/settings")
        await alex.wait_for_message(lambda m: "What time of day would you like" in m.text)
        await alex.send_text("whenever")
        reask = await alex.wait_for_message(lambda m: "for example 9am" in m.text)
        await alex.send_text("7:30pm")
        await alex.wait_for_message(lambda m: "Where are you" in m.text)
        await alex.send_text("skip")  # keeps the place
        await alex.wait_for_message(lambda m: "weekly review" in m.text)
        await alex.send_text("skip")  # keeps the day
        time_saved = await alex.wait_for_message(lambda m: "Thank you" in m.text)
        first = await patient(bot, 42)
        await alex.send_command("/settings")
        await alex.wait_for_message(lambda m: "What time of day would you like" in m.text)
        await alex.send_text("skip")  # keeps the time
        await alex.wait_for_message(lambda m: "Where are you" in m.text)
        await alex.send_text("Dublin")
        await alex.wait_for_message(lambda m: "weekly review" in m.text)
        await alex.send_text("skip")
        zone_saved = await alex.wait_for_message(lambda m: "Thank you" in m.text)
        second = await patient(bot, 42)
        await alex.send_command("/settings")
        await alex.wait_for_message(lambda m: "What time of day would you like" in m.text)
        await alex.send_text("skip")
        await alex.wait_for_message(lambda m: "Where are you" in m.text)
        await alex.send_text("skip")
        await alex.wait_for_message(lambda m: "weekly review" in m.text)
        await alex.send_text("skip")
        unchanged = await alex.wait_for_message(lambda m: "Nothing has changed" in m.text)
        third = await patient(bot, 42)
        async with bot.core.sessions() as session:
            due = (await session.execute(select(Schedule.next_due_at).where(
                Schedule.patient_id == second.id, Schedule.dialog == "daily"))).scalar_one()
        stored = await measurements(bot, 42)
    assert before is not None and first is not None and second is not None
    assert "Please send a time of day" in reask.text  # nonsense is asked again, and not stored
    assert (before.checkin_time, before.timezone) == (dt.time(9), "Europe/London")
    assert (first.checkin_time, first.timezone) == (dt.time(19, 30), "Europe/London")
    assert (second.checkin_time, second.timezone) == (dt.time(19, 30), "Europe/Dublin")
    assert third is not None and (third.checkin_time, third.timezone) == (dt.time(19, 30), "Europe/Dublin")
    assert "check-in will now come at 19:30." in time_saved.text
    assert "use the time in Europe/Dublin" in zone_saved.text and "Alex" in unchanged.text
    assert due is not None and due.astimezone(ZoneInfo("Europe/Dublin")).time() == dt.time(19, 30)
    assert not any(code in ("checkin_time", "timezone") for code, _ in stored)  # settings, not health data


async def weekly_due(bot: TelegramBot, patient_id: int) -> dt.datetime | None:
    async with bot.core.sessions() as session:
        return (await session.execute(select(Schedule.next_due_at).where(
            Schedule.patient_id == patient_id, Schedule.dialog == "weekly"))).scalar_one()


async def test_settings_change_the_review_day_and_move_the_next_weekly_review(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    # Wednesday 10 June 2026, 07:00 in London (BST); onboarding picks Sunday and 9am.
    clock = Clock(dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC))
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url, clock=clock) as bot:
        await onboard(alex, fake_bot_api)
        await settled(fake_bot_api, bot)
        before = await patient(bot, 42)
        assert before is not None
        sunday = await weekly_due(bot, before.id)
        await alex.send_command("/settings")
        await alex.wait_for_message(lambda m: "What time of day would you like" in m.text)
        await alex.send_text("skip")
        await alex.wait_for_message(lambda m: "Where are you" in m.text)
        await alex.send_text("skip")
        question = await alex.wait_for_message(lambda m: "weekly review" in m.text)
        await alex.send_text("someday")
        reask = await alex.wait_for_message(lambda m: "Please tap a day" in m.text)
        await alex.click("Friday", message=question)
        saved = await alex.wait_for_message(lambda m: "Thank you" in m.text)
        await settled(fake_bot_api, bot)
        after = await patient(bot, 42)
        friday = await weekly_due(bot, before.id)
    assert before.weekly_review_day == 6 and sunday == dt.datetime(2026, 6, 14, 8, 0, tzinfo=dt.UTC)
    assert "1 is Monday and 7 is Sunday" in reask.text  # not understood: asked again, nothing stored
    assert after is not None and after.weekly_review_day == 4
    assert (after.checkin_time, after.timezone) == (dt.time(9), "Europe/London")  # skipped: kept
    assert "Your weekly review will now come on Friday." in saved.text
    assert "check-in will now come" not in saved.text and "time in" not in saved.text
    assert friday == dt.datetime(2026, 6, 12, 8, 0, tzinfo=dt.UTC)  # 09:00 BST this Friday
