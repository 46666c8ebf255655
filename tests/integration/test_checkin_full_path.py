"""A check-in's start and end on the full path, which reads some things once, writes the position at
once and skips reads whose answer is already known: the answers must be the same as before."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Conversation, Patient, StepSuggestion
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.channel import ChannelCommand, ReachabilityChange
from coachbot.app.checkins.flare import pain_checkins
from coachbot.app.pipeline import PatientService
from coachbot.app.self_management.population_prior import PriorCache
from coachbot.engine import Position, TextMessage
from tests.support.basics import Clock
from tests.support.self_management import make_service

CHAT = 4545
ONBOARDING = ["hello", "yes", "Kim", "no", "no", "4", "5", "no", "working", "9am", "sunday", "UK"]
PAIN_READ = "SELECT measurements.recorded_at, measurements.value_num"
"""The start of the flare-up rules' read of the pain history (flare_checkins._PAIN_CHECKINS)."""




async def onboarded(sessions: async_sessionmaker[AsyncSession], clock: Clock,
                    prior: PriorCache | None = None) -> PatientService:
    service = make_service(sessions, clock, prior)
    for text in ONBOARDING:
        await service.handle(CHAT, TextMessage(text))
    clock.now += dt.timedelta(days=9)  # past the first days' extra questionnaires
    return service


@contextmanager
def statements(sessions: async_sessionmaker[AsyncSession]) -> Iterator[list[str]]:
    """The SQL the database is sent while the block runs."""
    bind = sessions.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    sent: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(bind.sync_engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(bind.sync_engine, "before_cursor_execute", note)


async def patient_row(sessions: async_sessionmaker[AsyncSession]) -> Patient:
    async with sessions() as session:
        return (await session.execute(select(Patient).where(Patient.chat_id == CHAT))).scalar_one()


async def test_a_checkin_start_reads_the_pain_history_once_and_leaves_the_patients_row_alone(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    before = await patient_row(session_factory)
    assert before.updated_at == clock.now - dt.timedelta(days=9), "onboarding changed it"
    with statements(session_factory) as sent:
        result = await service.handle_update(1, CHAT, ChannelCommand("checkin"))
    assert "Time for your check-in" in result.queued[0].payload["text"]
    assert "back pain right now" in result.queued[-1].payload["text"]
    assert sum(s.startswith(PAIN_READ) for s in sent) == 1, "for the facts and the flare news alike"
    assert not [s for s in sent if s.startswith("UPDATE patients")]
    after = await patient_row(session_factory)
    assert after.updated_at == before.updated_at, "only the conversation changed"


async def test_a_pain_answer_recorded_in_the_transaction_is_in_the_next_pain_history_read(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    await onboarded(session_factory, clock)
    patient = await patient_row(session_factory)
    now = clock.now
    async with session_factory() as session, session.begin():
        with statements(session_factory) as sent:
            first = await pain_checkins(joined(session), patient.id, now)
            again = await pain_checkins(joined(session), patient.id, now)
        assert first == again == [] and len(sent) == 1, "the second read is the first one's list"
        store.add_measurement(session, patient.id, "pain_now", 7, "daily_checkin", "pain_now", now)
        after = await pain_checkins(joined(session), patient.id, now)
    assert [c.pain for c in after] == [7.0]


async def test_a_position_saved_in_a_transaction_is_what_the_rest_of_it_loads(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    await onboarded(session_factory, clock)
    patient = await patient_row(session_factory)
    t0 = clock.now
    t1 = t0 + dt.timedelta(minutes=1)
    t2 = t0 + dt.timedelta(minutes=2)
    start = Position(script="daily_checkin", version="v1", state="pain_now", answers={}, misses=0)
    moved = Position(script="daily_checkin", version="v1", state="mood_now", answers={"pain_now": 4},
                     misses=1)
    other = Position(script="flare_plan", version="v1", state="helps", answers={}, misses=0)
    async with session_factory() as session, session.begin():
        await store.save_position(session, patient.id, start, t0)
        assert await store.load_position(session, patient.id) == start
        await store.save_position(session, patient.id, moved, t1)
        assert await store.load_position(session, patient.id) == moved
        assert not session.dirty, "written at once: nothing left for the flush"
        row = await session.get(Conversation, patient.id)
        assert row is not None and (row.started_at, row.updated_at) == (t0, t1), "same dialog: same start"
        await store.save_position(session, patient.id, other, t2)
        assert row.started_at == t2, "another dialog starts now"
    async with session_factory() as session, session.begin():
        stored = await session.get(Conversation, patient.id)
        assert stored is not None
        assert (stored.script, stored.state, stored.answers, stored.started_at) == (
            "flare_plan", "helps", {}, t2)
        await store.save_position(session, patient.id, None, t2)
        assert await store.load_position(session, patient.id) is None
        await store.save_position(session, patient.id, start, t2)  # ended and started again
    async with session_factory() as session:
        rows = (await session.execute(select(Conversation))).scalars().all()
        assert [(r.script, r.state, r.started_at) for r in rows] == [("daily_checkin", "pain_now", t2)]


async def test_a_blocked_patient_who_writes_again_is_reachable_and_their_row_says_when(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    await service.handle_update(1, CHAT, ReachabilityChange(blocked=True))
    assert (await patient_row(session_factory)).unreachable
    clock.now += dt.timedelta(hours=1)
    result = await service.handle_update(2, CHAT, ChannelCommand("checkin"))
    assert "Time for your check-in" in result.queued[0].payload["text"]
    after = await patient_row(session_factory)
    assert not after.unreachable and after.updated_at == clock.now


async def test_todays_step_shown_again_asks_nothing_of_the_population_prior(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    prior = PriorCache()
    service = await onboarded(session_factory, clock, prior)
    assert service.care is not None
    patient = await patient_row(session_factory)
    shown: list[str] = []
    sent: list[list[str]] = []
    for minutes in (0, 30):  # the first check-in's step, then again (a second check-in that day)
        async with session_factory() as session, session.begin():
            with statements(session_factory) as said:
                at = clock.now + dt.timedelta(minutes=minutes)
                replies = await service.care.suggest(joined(session), patient, at)
        shown.append(replies[0].text)
        sent.append(said)
    assert shown[0] == shown[1], "the same step, shown again"
    assert any("count(*)" in s for s in sent[0]), "a new step is drawn with the prior"
    assert not any("count(*)" in s for s in sent[1]) and prior.loads == 1
    async with session_factory() as session:
        assert len((await session.execute(select(StepSuggestion))).scalars().all()) == 1


async def test_a_step_waiting_for_feedback_is_asked_about_with_no_query_of_its_own(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = await onboarded(session_factory, clock)
    update = iter(range(1, 100))
    await service.handle_update(next(update), CHAT, ChannelCommand("checkin"))
    for answer in ["4", "5", "skip"]:
        said = await service.handle_update(next(update), CHAT, TextMessage(answer))
    assert "That is today's check-in done" in said.queued[-1].payload["text"]
    clock.now += dt.timedelta(days=1)
    with statements(session_factory) as sent:
        await service.handle_update(next(update), CHAT, ChannelCommand("checkin"))
    assert not [s for s in sent if s.startswith("SELECT step_suggestions.id")], "read with the patient"
    await service.handle_update(next(update), CHAT, TextMessage("4"))
    asked = await service.handle_update(next(update), CHAT, TextMessage("5"))
    assert "How did it go?" in asked.queued[-1].payload["text"]


async def test_a_profile_answer_moves_the_patients_updated_at(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = make_service(session_factory, clock)
    moved: dict[str, bool] = {}
    for text in ONBOARDING:
        clock.now += dt.timedelta(minutes=1)
        await service.handle(CHAT, TextMessage(text))
        moved[text] = (await patient_row(session_factory)).updated_at == clock.now
    assert moved["Kim"] and moved["9am"], "the name and the check-in time are the patient's own row"
    assert moved[ONBOARDING[-1]], "finishing onboarding makes them active"
    assert not moved["4"], "a baseline answer is a measurement, not the patient's row"
