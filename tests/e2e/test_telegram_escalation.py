"""Escalations end to end: the real bot (PTB, the outbox sender, the database) against the fake Bot API
server, on a clock the test moves: the card with its chart reaches the coach, the buttons work, the
re-send reaches the backup and the coaches' group, and nothing is lost to a crash."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Bot

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Coach, Escalation
from coachbot.adapters.telegram.app import TelegramBot
from coachbot.adapters.telegram.keyboards import markup
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand
from coachbot.app.escalations.deadlines import EscalationTicker
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, TextMessage
from tests.e2e.test_telegram_conversation import onboard
from tests.support.basics import Clock
from tests.support.coachbot_telegram import add_coach, bot_settings, library, make_core, patient, settled
from tests.support.fake_bot_api import FakeBotApi, FakeMessage, FakeUser

SAM, KIM, BO, ZED, GROUP = 900, 901, 902, 777, -100777
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday


@contextlib.asynccontextmanager
async def bot_at(fake: FakeBotApi, database_url: str, clock: Clock,
                 **overrides: Any) -> AsyncIterator[TelegramBot]:
    core = await make_core(database_url)
    bot = TelegramBot(core, bot_settings(fake, database_url, **overrides), clock=clock)
    try:
        await bot.start()
        yield bot
    finally:
        await bot.stop()
        await core.close()


async def escalations(bot: TelegramBot) -> list[Escalation]:
    async with bot.core.sessions() as session:
        return list((await session.execute(select(Escalation).order_by(Escalation.id))).scalars())


async def checkin(alex: FakeUser, clock: Clock, day: int, pain: int) -> FakeMessage:
    clock.now = START + dt.timedelta(days=day)
    await alex.send_command("/checkin")
    question = await alex.wait_for_message(lambda m: "How bad is your back pain right now" in m.text)
    await alex.click(str(pain), message=question)
    mood = await alex.wait_for_message(lambda m: "how is your mood right now" in m.text)
    await alex.send_text("6")
    step_or_note = await alex.wait_for_message(
        lambda m: "How did it go?" in m.text or "anything else you would like your coach to know" in m.text
        or "weakness in your legs" in m.text)
    if "weakness in your legs" in step_or_note.text:  # pain jumped by 2: the leg check comes first
        await alex.click("No", message=step_or_note)
        step_or_note = await alex.wait_for_message(
            lambda m: "How did it go?" in m.text
            or "anything else you would like your coach to know" in m.text)
    if "How did it go?" in step_or_note.text:  # the step suggested at the last check-in
        await alex.click("It helped", message=step_or_note)
        await alex.wait_for_message(lambda m: "anything else you would like your coach to know" in m.text)
    await alex.send_text("skip")
    await alex.wait_for_message(lambda m: "That is today's check-in done" in m.text)
    return mood


async def test_pain_rising_over_three_check_ins_reaches_the_coach_who_acknowledges_and_resolves(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, SAM, "Sam")
    sam, alex = fake_bot_api.user(SAM, "Sam"), fake_bot_api.user(42, "Alex")
    clock = Clock()
    async with bot_at(fake_bot_api, database_url, clock) as bot:
        await onboard(alex, fake_bot_api)  # usual pain 3: a meaningful change is 1, so 4 or more counts
        for day, pain in ((5, 4), (6, 5)):  # after the first days' extra questionnaires
            await checkin(alex, clock, day, pain)
        await settled(fake_bot_api, bot)
        assert sam.messages() == [] and await escalations(bot) == []
        mood_question = await checkin(alex, clock, 7, 7)  # the third day above usual: the coach is told
        card = await sam.wait_for_message(lambda m: m.photo is not None)
        label = (await patient(bot, 42)).label  # type: ignore[union-attr]

        assert "I have let your coach know" in mood_question.text
        assert card.caption is not None
        assert card.caption.startswith(f"Soon (next working day) alert for patient {label}")
        assert "Rule: pain_worse" in card.caption and "2026-03-09 7 (usual 3, alert at 4)" in card.caption
        assert card.photo is not None and card.photo[:8] == b"\x89PNG\r\n\x1a\n"
        assert card.buttons == [["Acknowledge", "Resolve"], ["Message patient"]]
        assert "Alex" not in card.caption

        clock.now += dt.timedelta(minutes=12)
        press = await sam.click("Acknowledge", message=card)
        await fake_bot_api.wait_until(lambda: "Acknowledged by Sam" in (card.caption or ""),
                                      what="card edited")
        assert (await press.wait_answered())["text"] is None
        assert card.buttons == [["Resolve"], ["Message patient"]]
        [row] = await escalations(bot)
        assert (row.status, row.acknowledged_by, row.acknowledged_at) == ("acknowledged", 1, clock.now)

        await sam.click("Message patient", message=card)
        pointer = await sam.wait_for_message(lambda m: "/message" in m.text)
        assert pointer.text == f"To write to {label}, send /message {label} followed by your message."
        await sam.click("Resolve", message=card)
        await sam.wait_for_message(lambda m: "Send your note" in m.text)
        await sam.send_text("Phoned Alex: flare after gardening, plan agreed.")
        await sam.wait_for_message(lambda m: m.text.startswith("Resolved by Sam"))
        await fake_bot_api.wait_until(lambda: card.buttons == [], what="card closed")
        await settled(fake_bot_api, bot)
        [row] = await escalations(bot)
    assert (row.status, row.resolved_by, row.resolution_note) == (
        "resolved", 1, "Phoned Alex: flare after gardening, plan agreed.")
    assert "Acknowledged by Sam" in (card.caption or "") and "Resolved by Sam" in (card.caption or "")


async def test_unacknowledged_urgent_goes_to_backup_and_group_and_only_coaches_may_press(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, SAM, "Sam")
    await add_coach(database_url, KIM, "Kim")
    backup = await add_coach(database_url, BO, "Bo")
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        (await session.get(Coach, backup)).is_backup = True  # type: ignore[union-attr]
    await engine.dispose()
    sam, kim, bo, zed = (fake_bot_api.user(i, n)
                         for i, n in ((SAM, "Sam"), (KIM, "Kim"), (BO, "Bo"), (ZED, "Zed")))
    alex = fake_bot_api.user(42, "Alex")
    group = fake_bot_api.group(GROUP, "Coaches")
    clock = Clock()
    async with bot_at(fake_bot_api, database_url, clock, coach_group_chat_id=GROUP) as bot:
        ticker = EscalationTicker(bot.service.uows, bot.service, bot.channel, clock=clock,
                                  on_queued=bot.sender.offer)
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.send_text("I want to end my life")
        await alex.wait_for_message(lambda m: "Samaritans" in m.text)
        first = await sam.wait_for_message(lambda m: "URGENT" in m.content)
        clock.now = START + dt.timedelta(minutes=59)
        assert await ticker.send_due_realerts() == 0
        clock.now = START + dt.timedelta(minutes=60)
        assert await ticker.send_due_realerts() == 1
        to_bo = await bo.wait_for_message(lambda m: "Not acknowledged 1 h 00 min" in m.content)
        in_group = await group.wait_for_message(lambda m: "Not acknowledged" in m.content)
        assert to_bo.buttons == in_group.buttons == [["Acknowledge", "Resolve"], ["Message patient"]]
        assert kim.messages() == [] and zed.messages() == []

        await group.click_as(zed, "Acknowledge", message=in_group)  # not a coach
        refusal = await group.wait_for_message(lambda m: m.text == "You cannot act on this alert.")
        await kim.click("Acknowledge", message=await copy_of(fake_bot_api, KIM, in_group))  # another's coach
        await kim.wait_for_message(lambda m: m.text == "You cannot act on this alert.")
        await settled(fake_bot_api, bot)
        assert [e.status for e in await escalations(bot)] == ["open"]
        assert "P-" not in refusal.text

        clock.now += dt.timedelta(minutes=5)
        await group.click_as(bo, "Acknowledge", message=in_group)
        await fake_bot_api.wait_until(lambda: "Acknowledged by Bo" in in_group.content, what="edited")
        [row] = await escalations(bot)
        assert (row.status, row.acknowledged_by, row.realerts) == ("acknowledged", backup, 1)
        clock.now += dt.timedelta(hours=3)
        assert await ticker.send_due_realerts() == 0
        await sam.click("Acknowledge", message=first)
        already = await sam.wait_for_message(lambda m: "already acknowledged" in m.text)
        assert already.text.startswith(f"Escalation {row.id} was already acknowledged by Bo")


async def copy_of(fake: FakeBotApi, chat_id: int, like: FakeMessage) -> FakeMessage:
    """The card's buttons in another coach's chat, as if they had got hold of them."""
    rows = [[[b["text"], b["callback_data"]] for b in row] for row in like.inline_keyboard]
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        sent = await bot.send_message(chat_id, "forwarded card", reply_markup=markup(rows))
    return next(m for m in fake.bot_messages(chat_id) if m.message_id == sent.message_id)


async def test_an_alert_survives_a_kill_between_commit_and_delivery(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, SAM, "Sam")
    sam = fake_bot_api.user(SAM, "Sam")
    core = await make_core(database_url)
    lib, clock = library(), Clock()
    try:  # the process that commits the escalation and its card, then dies before sending anything
        service = PatientService(core.sessions, Engine(lib), clock,
                                 channel=TelegramChannel(lib.service.channel, lib.escalation))
        await service.handle_update(1, 42, ChannelCommand("checkin"))
        result = await service.handle_update(2, 42, TextMessage("I am going to kill myself tonight"))
        assert any(q.escalation_id is not None and q.chat_id == SAM for q in result.queued)
    finally:
        await core.close()
    assert sam.messages() == []
    async with bot_at(fake_bot_api, database_url, clock) as bot:  # a new process: the outbox sends it
        card = await sam.wait_for_message(lambda m: "URGENT" in m.content)
        await settled(fake_bot_api, bot)
    assert card.photo is None and "no chart to show" in card.content  # no check-ins yet: a text card
    assert len([m for m in sam.messages() if "URGENT" in m.content]) == 1


async def test_the_bot_warns_at_start_when_no_coach_will_receive_alerts(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level(logging.WARNING, logger="coachbot.escalations"):
        async with bot_at(fake_bot_api, database_url, Clock()):
            pass
    assert any("nobody will receive alerts" in r.getMessage() for r in caplog.records)
    assert "nobody will receive alerts" in capsys.readouterr().err
    caplog.clear()
    await add_coach(database_url, SAM, "Sam")
    with caplog.at_level(logging.WARNING, logger="coachbot.escalations"):
        async with bot_at(fake_bot_api, database_url, Clock()):
            pass
    assert not any("nobody will receive alerts" in r.getMessage() for r in caplog.records)


async def test_a_plan_and_means_after_the_coach_acknowledged_sends_a_second_card_marked_worse(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, SAM, "Sam")
    sam, alex = fake_bot_api.user(SAM, "Sam"), fake_bot_api.user(42, "Alex")
    clock = Clock()
    async with bot_at(fake_bot_api, database_url, clock) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.send_text("I want to end my life")
        await alex.wait_for_message(lambda m: "Are you thinking about ending your life?" in m.text)
        first = await sam.wait_for_message(lambda m: "URGENT" in m.content)
        assert not first.content.startswith("WORSE")
        clock.now = START + dt.timedelta(minutes=5)
        await sam.click("Acknowledge", message=first)
        await fake_bot_api.wait_until(lambda: "Acknowledged by Sam" in first.content, what="acknowledged")

        clock.now += dt.timedelta(hours=2)
        await alex.send_text("yes")
        await alex.wait_for_message(lambda m: "Have you made a plan" in m.text)
        await alex.send_text("yes")
        await alex.wait_for_message(lambda m: "the things you would need" in m.text)
        await alex.send_text("yes")
        await alex.wait_for_message(lambda m: "Please call 999 or go to A&E now" in m.text)
        worse = await sam.wait_for_message(lambda m: m.content.startswith("WORSE: "))
        assert "plan and the means" in worse.content.splitlines()[0]
        assert "URGENT" in worse.content
        assert worse.buttons == [["Acknowledge", "Resolve"], ["Message patient"]]
        [row] = await escalations(bot)
        assert (row.status, row.acknowledged_by) == ("open", None)
        assert row.due_at == clock.now + dt.timedelta(minutes=60)

        clock.now += dt.timedelta(minutes=3)
        await sam.click("Acknowledge", message=worse)
        await fake_bot_api.wait_until(lambda: "Acknowledged by Sam" in worse.content, what="re-acknowledged")
        await settled(fake_bot_api, bot)
        [row] = await escalations(bot)
    assert (row.status, row.acknowledged_at) == ("acknowledged", clock.now)
    assert len([m for m in sam.messages() if "URGENT" in m.content]) == 2
