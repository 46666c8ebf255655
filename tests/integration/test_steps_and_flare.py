"""Self-management through the real service and database: flare-ups, the leg check, /steps and "a
different one", the coach's pins and blocks, and the population prior. The clock is the test's."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.charts import render_chart_row
from coachbot.adapters.db.models import (
    AuditEntry,
    Coach,
    Conversation,
    Escalation,
    Measurement,
    OutboxMessage,
    Patient,
    StepOverride,
    StepSuggestion,
)
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.channel import Press
from coachbot.app.pipeline import Delivery, PatientService
from coachbot.app.self_management.population_prior import PriorCache, answer_counts
from coachbot.app.self_management.suggestions import patient_state
from coachbot.engine import StartDialog, TextMessage
from tests.support.basics import Clock
from tests.support.self_management import care, make_service

CHAT = 4343
ONBOARDING = ["hello", "yes", "Sam", "no", "no", "4", "5", "no", "working", "9am", "sunday", "UK"]




def texts(delivery: Delivery) -> str:
    return "\n".join(r.text for r in delivery.replies)


async def onboarded(sessions: async_sessionmaker[AsyncSession], clock: Clock,
                    chat: int = CHAT) -> PatientService:
    service = make_service(sessions, clock)
    for text in ONBOARDING:
        await service.handle(chat, TextMessage(text))
    clock.now += dt.timedelta(days=9)  # past the first days' extra questionnaires
    return service


async def checkin(service: PatientService, clock: Clock, answers: list[str], chat: int = CHAT) -> str:
    """One day later, the daily check-in with these answers; everything the bot said."""
    clock.now += dt.timedelta(days=1)
    said = [texts(await service.handle(chat, StartDialog("daily_checkin")))]
    for answer in answers:
        said.append(texts(await service.handle(chat, TextMessage(answer))))
    return "\n".join(said)


async def in_dialog(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with sessions() as session:
        return (await session.execute(select(Conversation))).first() is not None


# -- flare-ups ---------------------------------------------------------------------------------------

async def test_pain_jump_shows_general_advice_then_short_checkins_until_pain_settles(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    first = await checkin(service, clock, ["3", "5", "skip"])
    assert "flare" not in first.lower()
    jump = await checkin(service, clock, ["6", "4", "no", "not tried", "skip"])  # up 3: a flare-up, legs
    assert "up from 3" in jump and "/flareplan" in jump, "no plan yet: general advice and an offer"
    assert "shorter" in jump and "999" in jump
    short = await checkin(service, clock, ["5", "4", "It is helping", "no"])
    assert "short one" in short and "anything else" not in short, "the flare version: no feedback, no note"
    assert not await in_dialog(session_factory), "the short check-in ends after pain, plan and legs"
    await checkin(service, clock, ["4", "5", "helping", "no"])  # within 1 of the baseline: 1 of 2
    settled = await checkin(service, clock, ["3", "5", "helping", "no"])
    assert "settled" in settled
    normal = await checkin(service, clock, ["3", "5"])
    assert "How did it go" in normal and "short one" not in normal, "back to the usual check-in"
    async with session_factory() as session:
        going = (await session.execute(select(Measurement.value_text).where(
            Measurement.code == "flare_plan_going"))).scalars().all()
    assert going == ["helping", "helping", "helping"]


async def test_written_flare_plan_is_shown_in_the_patients_own_words_when_pain_jumps(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    start = texts(await service.handle(CHAT, TextMessage("/flareplan")))
    assert "flare-up plan" in start and "What helps" in start
    reask = texts(await service.handle(CHAT, TextMessage("   ")))
    assert "600 letters" in reask, "an empty answer is asked again with what is expected"
    for answer in ["Hot shower and slow walks", "Lifting the shopping", "My sister Jo",
                   "No better after a week: ring the GP"]:
        await service.handle(CHAT, TextMessage(answer))
    assert not await in_dialog(session_factory)
    await checkin(service, clock, ["2", "6", "skip"])
    jump = await checkin(service, clock, ["5", "5", "no", "not tried", "skip"])
    for words in ["Hot shower and slow walks", "Lifting the shopping", "My sister Jo", "ring the GP"]:
        assert words in jump
    assert "/flareplan and we will write" not in jump, "a patient with a plan is not offered one"


async def test_flare_plan_is_not_shown_over_a_red_flag_from_the_leg_check(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await checkin(service, clock, ["3", "5", "skip"])
    said = await checkin(service, clock, ["9", "5", "yes", "yes"])  # pain 9: the leg check; both legs
    assert "999" in said and "up from 3" not in said, "the emergency message stands alone"
    async with session_factory() as session:
        rules = set((await session.execute(select(Escalation.rule))).scalars())
        steps = (await session.execute(select(StepSuggestion))).scalars().all()
    assert "red_flag_emergency" in rules and not [s for s in steps if s.suggested_at == service.clock()]


async def test_new_leg_numbness_holds_back_exercise_and_heat_steps(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    said = await checkin(service, clock, ["8", "4", "yes", "no", "skip"])
    assert "GP" in said and "coach" in said
    async with session_factory() as session:
        patient = (await session.execute(select(Patient))).scalar_one()
        state = await patient_state(joined(session), patient, clock.now)
        rules = set((await session.execute(select(Escalation.rule))).scalars())
        suggested = (await session.execute(select(StepSuggestion.step_id))).scalars().all()
    assert {"leg_weakness", "leg_numbness", "numb_skin"} <= state.flags
    assert "leg_symptoms" in rules
    for step_id in suggested:
        step = care().steps.get(step_id)
        assert step is not None and not step.exercise and not step.heat
    listed = texts(await service.handle(CHAT, TextMessage("/steps")))
    for step in care().steps.steps:
        if step.exercise or step.heat:
            assert f". {step.title}\n" not in listed + "\n"
    cleared = await checkin(service, clock, ["8", "4", "no", "helped", "skip"])
    assert "change in your leg" not in cleared
    async with session_factory() as session:
        state = await patient_state(joined(session), patient, clock.now)
    assert not state.flags & {"leg_weakness", "leg_numbness"}, "a later no clears the leg flags"


# -- /steps and a different one ------------------------------------------------------------------------

async def test_steps_lists_what_suits_now_and_opens_one_by_number(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    listed = await service.handle(CHAT, TextMessage("/steps"))
    reply = listed.replies[0]
    assert reply.text.splitlines()[1].startswith("1. ") and len(reply.options) >= 5
    first_title = reply.options[0].label
    opened = texts(await service.handle(CHAT, TextMessage("/steps 1")))
    assert opened.startswith(first_title)
    wrong = texts(await service.handle(CHAT, TextMessage("/steps 99")))
    assert "/steps and a number" in wrong
    async with session_factory() as session:
        assert (await session.execute(select(StepSuggestion))).first() is None, "browsing is not suggesting"


async def test_a_different_one_replaces_todays_step_without_a_second_new_one(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    early = texts(await service.handle(CHAT, TextMessage("/steps different")))
    assert "no step suggested for today" in early
    said = await checkin(service, clock, ["5", "5", "skip"])
    assert "A different one" not in said or "/steps different" in said
    seen = set()
    for _ in range(2):
        delivery = await service.handle(CHAT, TextMessage("/steps different"))
        assert delivery.replies and delivery.replies[0].options[0].value == "different"
        seen.add(delivery.replies[0].text.split("\n")[0])
    last = texts(await service.handle(CHAT, TextMessage("/steps different")))
    assert "all the suggestions for today" in last
    async with session_factory() as session:
        rows = (await session.execute(select(StepSuggestion).order_by(StepSuggestion.id))).scalars().all()
    assert len(rows) == 3 and len({r.step_id for r in rows}) == 3
    assert [r.feedback for r in rows] == ["declined", "declined", None], "one active suggestion today"
    assert len(seen) == 2


async def test_step_buttons_carry_their_own_token_through_the_channel(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    clock.now += dt.timedelta(days=1)
    await service.handle(CHAT, StartDialog("daily_checkin"))
    await service.handle(CHAT, TextMessage("5"))
    await service.handle(CHAT, TextMessage("5"))
    result = await service.handle_update(1, CHAT, TextMessage("skip"))
    keyboards = [row.payload.get("keyboard") for row in result.queued if row.payload.get("keyboard")]
    assert keyboards == [[[["A different one", "steps:different"]]]]
    swapped = await service.handle_update(2, CHAT, Press(token="steps", value="different"))
    assert swapped.accepted_press is True and "steps:different" in str(swapped.queued[0].payload)
    opened = await service.handle_update(3, CHAT, Press(token="steps", value="relaxed_breathing"))
    breathing = care().steps.get("relaxed_breathing")
    assert breathing is not None and opened.queued[0].payload["text"].startswith(breathing.title)


# -- the coach's pins and blocks --------------------------------------------------------------------

async def add_coach(sessions: async_sessionmaker[AsyncSession], telegram_id: int, *, admin: bool = False,
                    when: dt.datetime) -> int:
    async with sessions() as session, session.begin():
        coach = Coach(telegram_user_id=telegram_id, name=f"Coach {telegram_id}", is_admin=admin,
                      created_at=when)
        session.add(coach)
        await session.flush()
        return coach.id


async def test_coach_pin_is_suggested_and_block_is_never_for_their_own_patient_only(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    coach_id = await add_coach(session_factory, 9001, when=clock.now)
    other = await add_coach(session_factory, 9002, when=clock.now)
    service = await onboarded(session_factory, clock)
    async with session_factory() as session:
        patient = (await session.execute(select(Patient))).scalar_one()
    assert patient.coach_id in (coach_id, other)
    mine, theirs = (9001, 9002) if patient.coach_id == coach_id else (9002, 9001)
    refused = await service.handle_update(10, theirs, TextMessage(f"/pin {patient.label} relaxed_breathing"))
    assert "not one of your patients" in refused.queued[0].payload["text"]
    usage = await service.handle_update(11, mine, TextMessage("/pin"))
    assert "/pin LABEL STEP" in usage.queued[0].payload["text"]
    unknown = await service.handle_update(12, mine, TextMessage(f"/pin {patient.label} traction"))
    assert "no step called traction" in unknown.queued[0].payload["text"]
    pinned = await service.handle_update(13, mine,
                                         TextMessage(f"/pin {patient.label.lower()} relaxed_breathing"))
    assert "Pinned" in pinned.queued[0].payload["text"]
    blocked = await service.handle_update(14, mine, TextMessage(f"/block {patient.label} body_scan"))
    assert "Blocked" in blocked.queued[0].payload["text"]
    said = await checkin(service, clock, ["5", "5", "skip"])
    assert care().steps.get("relaxed_breathing").title in said  # type: ignore[union-attr]
    listed = texts(await service.handle(CHAT, TextMessage("/steps")))
    assert care().steps.get("body_scan").title not in listed  # type: ignore[union-attr]
    async with session_factory() as session:
        rows = (await session.execute(select(StepOverride.step_id, StepOverride.kind))).all()
        audit = (await session.execute(select(AuditEntry.action, AuditEntry.detail)
                                       .where(AuditEntry.action.like("step_%")))).all()
        reason = (await session.execute(select(StepSuggestion.reason))).scalar_one()
    assert sorted(rows) == [("body_scan", "block"), ("relaxed_breathing", "pin")]
    assert [a for a, _ in audit] == ["step_pin", "step_block"] and reason == "pinned by the coach"
    undone = await service.handle_update(15, mine, TextMessage(f"/unblock {patient.label} body_scan"))
    assert "No longer blocked" in undone.queued[0].payload["text"]
    again = await service.handle_update(16, mine, TextMessage(f"/unblock {patient.label} body_scan"))
    assert "nothing changed" in again.queued[0].payload["text"]


async def test_an_admin_may_pin_for_any_patient(session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    await add_coach(session_factory, 9001, when=clock.now)
    service = await onboarded(session_factory, clock)
    await add_coach(session_factory, 9003, admin=True, when=clock.now)
    async with session_factory() as session:
        label = (await session.execute(select(Patient.label))).scalar_one()
    done = await service.handle_update(20, 9003, TextMessage(f"/pin {label} short_easy_walk"))
    assert "Pinned" in done.queued[0].payload["text"]


# -- the population prior --------------------------------------------------------------------------

async def test_population_prior_comes_from_other_patients_in_the_same_bands(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    now = clock.now
    async with session_factory() as session, session.begin():
        patients = [Patient(label=f"P-TEST{n:02d}", status="active", created_at=now, updated_at=now)
                    for n in range(8)]
        session.add_all(patients)
        await session.flush()
        for n, patient in enumerate(patients):
            pain = 8.0 if n < 6 else 2.0
            at = now - dt.timedelta(days=3)
            session.add_all([
                Measurement(patient_id=patient.id, code="pain_now", value_num=pain, recorded_at=at,
                            script="daily_checkin", state="pain_now"),
                Measurement(patient_id=patient.id, code="mood_now", value_num=5.0, recorded_at=at,
                            script="daily_checkin", state="mood_now"),
                StepSuggestion(patient_id=patient.id, step_id="relaxed_breathing",
                               suggested_at=at + dt.timedelta(minutes=1), reason="test",
                               feedback="helped" if n < 6 else "not_helped"),
                StepSuggestion(patient_id=patient.id, step_id="body_scan",
                               suggested_at=at - dt.timedelta(days=1), reason="before any pain answer",
                               feedback="not_tried")])
    async with session_factory() as session:
        counts = await answer_counts(joined(session), now - dt.timedelta(days=30))
        cache_ = PriorCache(refresh=dt.timedelta(minutes=10))
        prior = await cache_.prior_for(joined(session), patients[0].id, now)
        await cache_.prior_for(joined(session), patients[1].id, now + dt.timedelta(minutes=5))
        assert cache_.loads == 1, "one aggregate query per refresh interval"
        await cache_.prior_for(joined(session), patients[1].id, now + dt.timedelta(minutes=11))
        assert cache_.loads == 2
    assert counts[("7-10", "4-6", "relaxed_breathing")] == (6.0, 0.0)
    assert counts[("0-3", "4-6", "relaxed_breathing")] == (0.0, 2.0)
    assert counts[("unknown", "unknown", "body_scan")] == (0.0, 2.0), "not tried counts a quarter each"
    assert prior.counts[("7-10", "4-6", "relaxed_breathing")] == (5.0, 0.0), "their own answer is left out"
    a, b, said = prior.beta_for("relaxed_breathing", {"pain_now": 9, "mood_now": 5})
    assert a > b and "similar patients (pain 7-10, mood 4-6)" in said


async def test_a_new_patients_first_suggestion_says_it_used_similar_patients(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    async with session_factory() as session, session.begin():
        now = clock.now
        for n in range(6):
            other = Patient(label=f"P-OTHER{n}", status="active", created_at=now, updated_at=now)
            session.add(other)
            await session.flush()
            session.add_all([Measurement(patient_id=other.id, code="pain_now", value_num=5.0,
                                         recorded_at=now, script="daily_checkin", state="pain_now"),
                             Measurement(patient_id=other.id, code="mood_now", value_num=5.0,
                                         recorded_at=now, script="daily_checkin", state="mood_now")]
                            + [StepSuggestion(patient_id=other.id, step_id=step.id,
                                              suggested_at=now + dt.timedelta(minutes=1), reason="test",
                                              feedback="helped")
                               for step in care().steps.steps])
    await checkin(service, clock, ["5", "5", "skip"])
    async with session_factory() as session:
        reason = (await session.execute(select(StepSuggestion.reason).join(
            Patient, Patient.id == StepSuggestion.patient_id).where(Patient.chat_id == CHAT))).scalar_one()
    assert "similar patients (pain 4-6, mood 4-6): helped 6 of 6" in reason


@pytest.mark.parametrize("command", ["/steps", "/flareplan"])
async def test_steps_and_flareplan_wait_until_onboarding_is_done(
        session_factory: async_sessionmaker[AsyncSession], command: str) -> None:
    service = make_service(session_factory, Clock())
    await service.handle(CHAT, TextMessage("hello"))
    delivery = await service.handle(CHAT, TextMessage(command))
    assert delivery.replies and "flare-up plan" not in texts(delivery).lower()


# -- the weekly summary --------------------------------------------------------------------------

WEEKLY = ["5", "5", "5", "0", "0", "0", "0", "6", "3"]


async def test_weekly_review_ends_with_the_summary_and_a_chart_in_the_same_transaction(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await checkin(service, clock, ["6", "4", "skip"])
    for _ in range(7):
        await checkin(service, clock, ["5", "5", "It helped", "skip"])
    async with session_factory() as session:
        helped = (await session.execute(select(StepSuggestion.step_id).where(
            StepSuggestion.feedback == "helped"))).scalars().all()
    titles = [care().steps.get(step_id).title for step_id in helped]  # type: ignore[union-attr]
    clock.now += dt.timedelta(hours=2)
    await service.handle_update(100, CHAT, StartDialog("weekly_review"))  # type: ignore[arg-type]
    for n, answer in enumerate(WEEKLY[:-1]):
        await service.handle_update(101 + n, CHAT, TextMessage(answer))
    result = await service.handle_update(200, CHAT, TextMessage(WEEKLY[-1]))
    kinds = [row.kind for row in result.queued]
    assert kinds[-1] == "chart" and "text" in kinds
    summary = "\n".join(row.payload["text"] for row in result.queued if row.kind == "text")
    assert "weekly review done" in summary and "Here is a look back at your week, Sam." in summary
    for title in titles:
        assert title in summary, "the summary names each step the patient marked helpful"
    assert "about the same" in summary or "lower" in summary, "what changed, in plain words"
    assert "/flareplan" in summary, "no plan yet: the summary offers one"
    photo = result.queued[-1].payload
    data = render_chart_row(photo)  # what the outbox sender draws when it sends the row
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.verify()
    assert image.format == "PNG" and image.size[0] > 400
    assert "day by day" in photo["caption"]
    async with session_factory() as session:
        stored = (await session.execute(select(OutboxMessage.kind).where(
            OutboxMessage.id.in_([row.id for row in result.queued])))).scalars().all()
    assert sorted(stored) == sorted(kinds), "the chart's outbox row committed with the answer"


async def test_weekly_review_cut_short_by_a_crisis_sends_no_summary(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await service.handle(CHAT, StartDialog("weekly_review"))
    for answer in WEEKLY[:4]:
        await service.handle(CHAT, TextMessage(answer))
    delivery = await service.handle(CHAT, TextMessage("I want to end my life"))
    assert not delivery.photos and "look back at your week" not in texts(delivery)


async def test_crisis_words_pre_empt_the_short_flare_checkin(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await checkin(service, clock, ["3", "5", "skip"])
    await checkin(service, clock, ["6", "4", "no", "not tried", "skip"])
    clock.now += dt.timedelta(days=1)
    short = texts(await service.handle(CHAT, StartDialog("daily_checkin")))
    assert "short one" in short
    said = texts(await service.handle(CHAT, TextMessage("I want to end it all")))
    assert "116 123" in said and "flare" not in said.lower()
    async with session_factory() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
        rules = set((await session.execute(select(Escalation.rule))).scalars())
    assert conversation.script == "crisis" and "crisis" in rules


async def test_a_patient_who_left_the_jump_checkin_early_sees_the_advice_once_after_the_next_leg_check(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await checkin(service, clock, ["3", "5", "skip"])
    left = await checkin(service, clock, ["7"])  # pain up 4, then no more answers
    assert "flare-up" not in left
    clock.now += dt.timedelta(days=1)
    start = texts(await service.handle(CHAT, StartDialog("daily_checkin")))
    assert "short one" in start and "up from 3" not in start, "no reassurance before the leg check"
    said = [start] + [texts(await service.handle(CHAT, TextMessage(a))) for a in ["6", "4", "helping", "no"]]
    whole = "\n".join(said)
    legs = whole.index("numbness, tingling or weakness in your legs")
    assert whole.index("At your last check-in your pain was 7 out of 10, up from 3") > legs
    assert "/flareplan" in whole and whole.rstrip().endswith("I will see you tomorrow.")
    again = await checkin(service, clock, ["6", "4", "helping", "no"])
    assert "up from 3" not in again, "shown once per flare-up"
