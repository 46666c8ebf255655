"""Care paths through the real bot (PTB over HTTP, the fake Bot API, a real database): the note to the
coach and asking for a person reach the coach; a due check-in after a crisis is only a gentle check;
flare-up advice after a yes at the leg check holds back exercise and warmth; media replies carry the
safety line."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Escalation, Patient
from coachbot.engine import StartDialog
from tests.e2e.test_telegram_conversation import onboard
from tests.e2e.test_telegram_scheduled_checkin import daily_due
from tests.support.basics import Clock
from tests.support.coachbot_telegram import add_coach, patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi, FakeUser

COACH_ID = 900
SAFETY_LINE = "If you need help now, call NHS 111, or 999 if your life is at risk."


async def start_checkin(alex: FakeUser) -> None:
    await alex.send_command("/checkin")
    await alex.wait_for_message(lambda m: "How bad is your back pain right now" in m.text)


async def test_a_note_asking_for_a_person_reaches_the_coach_with_the_alert_card(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        await start_checkin(alex)
        await alex.send_text("4")
        await alex.wait_for_message(lambda m: "how is your mood right now" in m.text)
        await alex.send_text("5")
        await alex.wait_for_message(lambda m: "anything else you would like your coach to know" in m.text)
        await alex.send_text("Can someone ring me? I am struggling with work")
        await alex.wait_for_message(lambda m: "would like them to get in touch" in m.text)
        await alex.wait_for_message(lambda m: "That is today's check-in done" in m.text)
        # The card's chart is drawn by a helper process on first use: allow it time on a busy machine.
        card = await sam.wait_for_message(lambda m: "asks_for_person" in m.content, timeout=20)
        note = await sam.wait_for_message(lambda m: "wrote to you in their check-ins" in m.content,
                                          timeout=20)
        label = (await patient(bot, 42)).label  # type: ignore[union-attr]
        await settled(fake_bot_api, bot)
    assert label in card.content and "struggling with work" not in card.content, "the card stays plain"
    assert note.content.startswith(label) and "Can someone ring me? I am struggling with work" in note.content
    assert note.message_id > card.message_id, "the note follows its card"


async def test_free_text_outside_a_dialog_is_acknowledged_with_what_to_do_next(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        await settled(fake_bot_api, bot)
        await alex.send_text("my back is killing me today")
        said = await alex.wait_for_message(lambda m: "/checkin" in m.text)
    assert "/steps" in said.text and "/flareplan" in said.text and "999" in said.text
    assert "There are no questions for you" not in said.text


async def test_a_scheduled_checkin_after_a_crisis_is_only_a_gentle_check_until_resolved(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    clock = Clock(dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC))
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url, clock=clock, schedule_tick_seconds=1) as bot:
        await onboard(alex, fake_bot_api)
        await settled(fake_bot_api, bot)
        async with bot.core.sessions() as session, session.begin():
            row = (await session.execute(select(Patient).where(Patient.chat_id == 42))).scalar_one()
            await store.open_escalation(session, row.id, tier="urgent", rule="crisis", reason="test",
                                        evidence={}, now=clock())
        clock.now = await daily_due(bot, 42) + dt.timedelta(seconds=2)
        gentle = await alex.wait_for_message(lambda m: "gently check how you are" in m.text, timeout=10)
        assert gentle.buttons == [["A bit better", "About the same", "Worse"]]
        await alex.click("Worse", message=gentle)
        help_now = await alex.wait_for_message(lambda m: "116 123" in m.text)
        await settled(fake_bot_api, bot)
        async with bot.core.sessions() as session, session.begin():
            await session.execute(update(Escalation).values(status="resolved"))
        clock.now = await daily_due(bot, 42) + dt.timedelta(seconds=2)
        usual = await alex.wait_for_message(lambda m: "Time for your check-in" in m.text, timeout=10)
        await settled(fake_bot_api, bot)
    assert "999" in help_now.text
    paused = [m.text for m in alex.messages() if gentle.message_id <= m.message_id < usual.message_id]
    assert len(paused) >= 2 and not any("How bad is your back pain" in t or "extra questions" in t
                                        for t in paused), "no questionnaire while coaching is paused"


async def test_flare_advice_after_new_leg_numbness_holds_back_exercise_and_warmth(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    clock = Clock(dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC))
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url, clock=clock) as bot:
        await onboard(alex, fake_bot_api)
        days = ((4, ["3", "5", "skip"]), (5, ["6", "4", "Yes", "No", "not tried", "skip"]))
        for done, (day, answers) in enumerate(days, 1):
            clock.now = dt.datetime(2026, 6, 10 + day, 10, 0, tzinfo=dt.UTC)  # past the extra questions
            # The scheduler starts a check-in this way (coachbot/app/checkins/start.py).
            result = await bot.service.handle_update(10**9 + day, 42, StartDialog("daily_checkin"))
            bot.sender.offer(result.queued)
            await fake_bot_api.wait_until(lambda n=done: sum("Time for your check-in" in m.text
                                                             for m in alex.messages()) == n,
                                          what="the check-in")
            for answer in answers:
                await alex.send_text(answer)
                await settled(fake_bot_api, bot)
            await fake_bot_api.wait_until(lambda n=done: sum("That is today's check-in done" in m.text
                                                             for m in alex.messages()) == n,
                                          what="its end")
        await settled(fake_bot_api, bot)
    said = [m.text for m in alex.messages()]
    flare = next(t for t in said if "up from 3" in t)
    legs = next(i for i, t in enumerate(said) if "I will not suggest exercise or heat" in t)
    assert said.index(flare) > legs
    for contradiction in ["walks", "stretches", "Warmth", "does not mean new damage"]:
        assert contradiction not in flare
    assert "That is today's check-in done" in said[-1], "the closing line comes last"


async def test_voice_sticker_and_photo_replies_carry_the_safety_line(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_voice()
        voice = await alex.wait_for_message()
        await alex.send_sticker("🙂")
        sticker = await alex.wait_for_message()
        await alex.send_photo()
        photo = await alex.wait_for_message()
        await settled(fake_bot_api, bot)
    for reply in (voice, sticker, photo):
        assert reply.text.rstrip().endswith(SAFETY_LINE)
