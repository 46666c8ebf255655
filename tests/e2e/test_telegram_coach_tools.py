"""The coach tools end to end through the real bot and the fake Bot API: a coach joins with an invite
code, a patient onboards and is given to them, the coach uses /queue and /patient, writes to the
patient with /message, the patient's reply reaches the coach's chat, and the coach closes it."""

from __future__ import annotations

from coachbot.adapters.db.models import Coach, CoachRelay
from coachbot.app.coaches.admin import invite
from tests.e2e.test_telegram_conversation import onboard
from tests.support.coachbot_telegram import count, measurements, patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi, FakeMessage, FakeUser

COACH_ID = 900

PNG = b"\x89PNG\r\n\x1a\n"


def said(message: FakeMessage) -> str:
    """A message's words: its text, or the caption of a photo such as an alert card or a chart."""
    return message.text or message.caption or ""


async def check_in(alex: FakeUser, *, pain: int, mood: int) -> None:
    await alex.send_command("/checkin")
    question = await alex.wait_for_message(lambda m: "How bad is your back pain right now" in said(m))
    await alex.click(str(pain), message=question)
    await alex.wait_for_message(lambda m: "how is your mood right now" in said(m))
    await alex.send_text(str(mood))
    await alex.wait_for_message(lambda m: "anything else you would like your coach to know" in said(m))
    await alex.send_text("skip")
    await alex.wait_for_message(lambda m: "That is today's check-in done" in said(m))


async def test_coach_joins_by_invite_and_talks_with_their_patient(fake_bot_api: FakeBotApi,
                                                                 migrated_url: str) -> None:
    database_url = migrated_url  # `coachbot coaches invite` needs the schema (`coachbot db upgrade`)
    made = await invite(database_url, name="Sam", is_admin=False, is_backup=False, expires_hours=24)
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await sam.send_command(f"/coach {made.code}")
        welcome = await sam.wait_for_message(lambda m: "registered as a coach" in said(m))
        await fake_bot_api.wait_until(
            lambda: len(fake_bot_api.commands_for({"type": "chat", "chat_id": COACH_ID})) > 2,
            what="the coach's menu")

        await onboard(alex, fake_bot_api)
        row = await patient(bot, 42)
        assert row is not None and row.coach_id is not None
        label = row.label
        await check_in(alex, pain=7, mood=4)
        await alex.send_text("I want to die")
        crisis = await alex.wait_for_message(lambda m: "Samaritans" in said(m))  # with the first question
        await sam.wait_for_message(lambda m: "alert for patient" in said(m))
        await alex.click("No", message=crisis)
        await alex.wait_for_message(
            lambda m: "Your coach has been told and will still be in touch" in said(m))

        await sam.send_command("/queue")
        queue = await sam.wait_for_message(lambda m: said(m).startswith("Open escalations"))
        await sam.send_command(f"/patient {label}")
        summary = await sam.wait_for_message(lambda m: said(m).startswith(f"Patient {label}"))
        chart = await sam.wait_for_message(lambda m: m.method == "sendPhoto", timeout=15)

        answers = len(await measurements(bot, 42))
        await sam.send_command(f"/message {label} I saw your message. Are you safe right now?")
        delivered = await alex.wait_for_message(lambda m: "A message from your coach" in said(m))
        await sam.wait_for_message(lambda m: said(m).startswith(f"Sent to {label}."))
        await alex.send_text("Yes, I am at home with my sister")
        forwarded = await sam.wait_for_message(lambda m: said(m).startswith(f"{label} wrote:"))
        await alex.wait_for_message(lambda m: "passed your message to your coach" in said(m))

        await sam.send_command(f"/close {label}")
        await alex.wait_for_message(lambda m: "finished this conversation" in said(m))
        closed = await sam.wait_for_message(lambda m: "is closed" in said(m))
        await settled(fake_bot_api, bot)
        relays = await count(bot, CoachRelay)
        after = len(await measurements(bot, 42))

    assert welcome.text.startswith("Welcome Sam. You are now registered as a coach.")
    menu = [c["command"] for c in fake_bot_api.commands_for({"type": "chat", "chat_id": COACH_ID})]
    assert {"queue", "patient", "note", "message", "close", "handover"} <= set(menu)
    assert queue.text.splitlines()[1].startswith(f"{label} · URGENT (act today) · crisis · open")
    assert "pain_now 7" in summary.text and "mood_now 4" in summary.text and "Alex" not in summary.text
    assert chart.caption == f"{label}: pain and mood over the last 14 days"
    assert chart.photo is not None and chart.photo.startswith(PNG) and len(chart.photo) > 10_000
    assert "I saw your message. Are you safe right now?" in delivered.text
    assert forwarded.text == f"{label} wrote:\nYes, I am at home with my sister"
    assert closed.text.startswith(f"The conversation with {label} is closed.")
    assert relays == 0 and after == answers  # the reply went to the coach, not into the answers


async def test_guessing_coach_codes_through_telegram_is_paused_after_five_and_a_right_code_waits(
        fake_bot_api: FakeBotApi, migrated_url: str) -> None:
    made = await invite(migrated_url, name="Sam", is_admin=False, is_backup=False, expires_hours=24)
    mallory = fake_bot_api.user(COACH_ID + 1, "Mallory")
    async with running_bot(fake_bot_api, migrated_url) as bot:
        for n in range(2, 7):
            await mallory.send_command(f"/coach ABCD-EFGH-JK{n}{n}")
        paused = await mallory.wait_for_message(lambda m: "Too many wrong codes" in said(m))
        await mallory.send_command(f"/coach {made.code}")  # the right code, during the pause
        await settled(fake_bot_api, bot)
        answers = [said(m) for m in mallory.messages()]
        coaches = await count(bot, Coach)
    assert paused.text.endswith("for the next 30 minutes.")
    assert answers.count("That code is not valid. Please ask an admin for a new one.") == 4
    assert len([a for a in answers if a.startswith("Too many wrong codes")]) == 2
    assert coaches == 0
