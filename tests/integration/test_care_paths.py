"""Care paths through the real service and database: what the patient writes for the coach reaches
the coach, asking for a person is heard, "coaching is paused" stays true, and flare-up advice never
contradicts the leg check. The clock is the test's."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Escalation, Patient
from coachbot.engine import StartDialog, TextMessage
from tests.integration.test_coach_tools import SAM, Desk
from tests.integration.test_steps_and_flare import CHAT, checkin, onboarded, texts
from tests.support.basics import Clock
from tests.support.scheduler_world import World

Sessions = async_sessionmaker[AsyncSession]
ALEX = 42


async def escalations(sessions: Sessions) -> list[Escalation]:
    async with sessions() as session:
        return list((await session.execute(select(Escalation).order_by(Escalation.id))).scalars())


# -- what the patient tells the coach --------------------------------------------------------------------

async def test_a_note_asking_for_a_person_raises_asks_for_person_and_reaches_the_coach_with_the_card(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.send(ALEX, "/checkin")
    await desk.send(ALEX, "4")
    await desk.send(ALEX, "5")
    sent = await desk.send(ALEX, "Could someone ring me please, it has been a hard week")
    [raised] = await escalations(session_factory)
    assert (raised.rule, raised.tier, raised.status) == ("asks_for_person", "routine", "open")
    assert "hard week" not in str(raised.evidence) and "hard week" not in raised.reason
    coach = "\n".join(sent[SAM])
    assert "asks_for_person" in coach, "the card, in the same transaction as the note"
    assert f"{alex.label} wrote to you in their check-ins:" in coach
    assert "Could someone ring me please, it has been a hard week" in coach
    patient = "\n".join(sent[ALEX])
    assert "let your coach know that you would like them to get in touch" in patient
    assert patient.rstrip().endswith("I will see you tomorrow."), "the check-in still closes"
    summary = await desk.said(SAM, f"/patient {alex.label}")
    assert "What the patient wrote to you:" in summary and "it has been a hard week" in summary


async def test_a_plain_note_waits_for_the_next_alert_card_and_goes_only_once(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    for text in ["/checkin", "4", "5"]:
        await desk.send(ALEX, text)
    quiet = await desk.send(ALEX, "Slept badly, the new mattress is not helping")
    assert SAM not in quiet, "a note alone is no alert"
    assert "new mattress" in await desk.said(SAM, f"/patient {alex.label}")
    asked = await desk.send(ALEX, "I need to speak to a real person")
    coach = "\n".join(asked[SAM])
    assert "asks_for_person" in coach and "Slept badly, the new mattress is not helping" in coach
    desk.clock.now += dt.timedelta(days=1)
    async with session_factory() as session, session.begin():
        await session.execute(update(Escalation).values(status="resolved"))
    again = await desk.send(ALEX, "can my coach call me back")
    assert "asks_for_person" in "\n".join(again[SAM])
    assert "new mattress" not in "\n".join(again[SAM]), "a note goes with one card, not every card"


async def test_asking_for_a_person_outside_a_dialog_is_answered_kindly_and_the_coach_is_alerted(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    await desk.onboard(ALEX)
    sent = await desk.send(ALEX, "is there a human I can talk to?")
    said = "\n".join(sent[ALEX])
    assert "let your coach know" in said and "116 123" in said
    assert "Here is what you can do now" not in said, "answered, not the idle message"
    assert "asks_for_person" in "\n".join(sent[SAM])
    [raised] = await escalations(session_factory)
    assert raised.rule == "asks_for_person"


async def test_free_text_outside_a_dialog_is_acknowledged_with_what_to_do_next_and_the_safety_line(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    await desk.onboard(ALEX)
    said = await desk.said(ALEX, "my back is killing me today")
    assert "no questions for you" not in said
    for offered in ["/checkin", "/steps", "/flareplan", "NHS 111", "999"]:
        assert offered in said
    assert await escalations(session_factory) == [], "ordinary words raise nothing"


# -- "I have paused the coaching" is true -------------------------------------------------------------

async def test_after_a_crisis_escalation_the_due_checkin_is_only_a_gentle_check_until_a_coach_resolves_it(
        session_factory: Sessions) -> None:
    world = World(session_factory, Clock(dt.datetime(2026, 6, 1, 6, tzinfo=dt.UTC)))
    patient = await world.add_patient(at=dt.time(9), weekly_day=6)
    async with session_factory() as session, session.begin():
        await store.open_escalation(session, patient.id, tier="urgent", rule="crisis", reason="test",
                                    evidence={}, now=world.clock())
    world.scheduler()
    await world.run_until(dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC))
    [gentle] = world.checkins_sent(patient.chat_id)
    assert "gently check how you are" in gentle.text
    assert "How bad is your back pain" not in gentle.text and "extra questions" not in gentle.text
    reply = await world.service.handle(patient.chat_id, TextMessage("worse"))
    said = "\n".join(r.text for r in reply.replies)
    assert "116 123" in said and "999" in said and not reply.suggest_step
    async with session_factory() as session, session.begin():
        await session.execute(update(Escalation).values(status="resolved"))
    await world.run_until(dt.datetime(2026, 6, 2, 12, tzinfo=dt.UTC))
    usual = world.checkins_sent(patient.chat_id)[-1]
    assert "Time for your check-in" in usual.text, "resolved by a coach: the usual check-in again"


async def test_a_soon_escalation_does_not_pause_the_checkin(session_factory: Sessions) -> None:
    world = World(session_factory, Clock(dt.datetime(2026, 6, 1, 6, tzinfo=dt.UTC)))
    patient = await world.add_patient(at=dt.time(9), weekly_day=6)
    async with session_factory() as session, session.begin():
        await store.open_escalation(session, patient.id, tier="soon", rule="pain_worse", reason="test",
                                    evidence={}, now=world.clock())
    world.scheduler()
    await world.run_until(dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC))
    [usual] = world.checkins_sent(patient.chat_id)
    assert "Time for your check-in" in usual.text


# -- advice never contradicts the leg check ---------------------------------------------------------------

async def test_flare_advice_after_a_yes_to_new_leg_numbness_has_no_exercise_warmth_or_no_damage_reassurance(
        session_factory: Sessions) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await checkin(service, clock, ["3", "5", "skip"])
    # Pain up 3 (a flare-up starts): the leg check runs; new numbness in one leg, none of the 999 signs.
    said = await checkin(service, clock, ["6", "4", "yes", "no", "not tried", "skip"])
    assert "I will not suggest exercise or heat" in said and "up from 3" in said
    assert said.index("I will not suggest exercise or heat") < said.index("up from 3")
    for contradiction in ["walks", "stretches", "Warmth", "warm shower", "does not mean new damage"]:
        assert contradiction not in said
    assert "Rest in a comfortable position" in said, "advice that the leg check allows is still given"
    assert said.rstrip().endswith("I will see you tomorrow."), "the closing line comes last"


async def test_flare_reassurance_comes_only_after_the_leg_check_on_the_day_pain_jumps(
        session_factory: Sessions) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await checkin(service, clock, ["3", "5", "skip"])
    clock.now += dt.timedelta(days=1)
    replies = [await service.handle(CHAT, StartDialog("daily_checkin"))]
    for answer in ["6", "4", "no", "not tried", "skip"]:
        replies.append(await service.handle(CHAT, TextMessage(answer)))
    said = "\n".join(texts(r) for r in replies)
    legs = said.index("numbness, tingling or weakness in your legs")
    assert legs < said.index("does not mean new damage") and "walks or stretches" in said
    last = replies[-1].replies
    assert "That is today's check-in done" in last[-1].text, "the closing line is the last message"
    assert any("up from 3" in r.text for r in last[:-1])


async def test_the_closing_line_of_a_checkin_comes_after_the_flare_news_and_the_step(
        session_factory: Sessions) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await checkin(service, clock, ["3", "5", "skip"])
    clock.now += dt.timedelta(days=1)
    await service.handle(CHAT, StartDialog("daily_checkin"))
    for answer in ["6", "4", "no", "not tried"]:
        await service.handle(CHAT, TextMessage(answer))
    end = await service.handle(CHAT, TextMessage("skip"))
    order = [r.text.splitlines()[0] for r in end.replies]
    assert order[-1].startswith("Thank you, Sam. That is today's check-in done")
    assert any(line.startswith("Your pain is 6 out of 10 today") for line in order[:-1])
    async with session_factory() as session:
        assert (await session.execute(select(Patient))).scalar_one().status == "active"
