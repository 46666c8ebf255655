"""The service on a real database: answers, positions and escalations stored in one transaction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import (
    AuditEntry,
    Conversation,
    Escalation,
    Measurement,
    Patient,
    StepSuggestion,
)
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, StartDialog, TextMessage
from coachbot.spec.steps import load_steps
from tests.support.basics import DIALOGS, Clock, library

CHAT = 4242
ONBOARDING = ["hello", "yes", "Alex", "no", "no", "6", "4", "no", "working", "8am", "sunday", "UK"]


def make_service(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> PatientService:
    return PatientService(sessions, Engine(library()), clock)


async def count(sessions: async_sessionmaker[AsyncSession], model: type, **where: object) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int((await session.execute(query)).scalar_one())


async def test_onboarding_stores_profile_baselines_and_activates_the_patient(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    service = make_service(session_factory, Clock())
    for text in ONBOARDING:
        delivery = await service.handle(CHAT, TextMessage(text))
        assert delivery.replies, f"no reply to {text!r}"
    async with session_factory() as session:
        patient = (await session.execute(select(Patient))).scalar_one()
        codes = set((await session.execute(select(Measurement.code))).scalars())
        conversation = await session.get(Conversation, patient.id)
    assert (patient.name, patient.timezone, patient.checkin_time) == ("Alex", "Europe/London", dt.time(8))
    assert patient.status == "active" and patient.consent_at and patient.onboarded_at
    assert patient.label.startswith("P-")
    assert codes == {"rf_emergency", "rf_urgent", "pain_usual", "mood_usual", "neuropathy", "work_status"}
    assert conversation is None, "no dialog left open after onboarding"


async def test_a_restart_mid_dialog_resumes_exactly_where_the_patient_was(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    for text in ONBOARDING[:5]:
        await make_service(session_factory, clock).handle(CHAT, TextMessage(text))
    fresh = make_service(session_factory, clock)  # a new process: new engine, same database
    delivery = await fresh.handle(CHAT, TextMessage("6"))
    assert "mood" in delivery.replies[-1].text.lower()
    assert await count(session_factory, Measurement, code="pain_usual") == 1


async def test_unclear_answers_store_nothing_and_keep_the_place(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    service = make_service(session_factory, Clock())
    for text in ONBOARDING[:5]:
        await service.handle(CHAT, TextMessage(text))
    for noise in ["", "🙂", "x" * 5000, "eleven", "7 or 8"]:
        delivery = await service.handle(CHAT, TextMessage(noise))
        assert len(delivery.replies) >= 1
    assert await count(session_factory, Measurement, code="pain_usual") == 0
    async with session_factory() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.state == "pain_usual" and conversation.misses == 5


async def test_crisis_escalation_is_committed_with_the_message_and_deduplicated(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    service = make_service(session_factory, Clock())
    first = await service.handle(CHAT, TextMessage("i want to kill myself"))
    second = await service.handle(CHAT, TextMessage("i really want to die"))
    assert "116 123" in first.replies[0].text
    assert [n.is_new for n in first.escalations + second.escalations] == [True, False]
    assert await count(session_factory, Escalation, rule="crisis", status="open") == 1


async def test_audit_log_names_rules_and_labels_never_message_text(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    service = make_service(session_factory, Clock())
    await service.handle(CHAT, TextMessage("I want to end my life tonight"))
    async with session_factory() as session:
        entries = (await session.execute(select(AuditEntry))).scalars().all()
    assert {e.action for e in entries} >= {"safety_trigger", "escalation_opened"}
    for entry in entries:
        assert "end my life" not in repr(entry.detail).lower()


async def test_daily_checkin_answers_are_stored_one_row_per_item(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = make_service(session_factory, clock)
    for text in ONBOARDING:
        await service.handle(CHAT, TextMessage(text))
    clock.now += dt.timedelta(days=10)
    await service.handle(CHAT, StartDialog("daily_checkin"))
    for text in ["7", "3", "slept badly"]:
        await service.handle(CHAT, TextMessage(text))
    async with session_factory() as session:
        rows = (await session.execute(select(Measurement).where(Measurement.script == "daily_checkin")
                                      .order_by(Measurement.id))).scalars().all()
    assert [(r.code, r.value_num, r.value_text) for r in rows] == [
        ("pain_now", 7.0, None), ("mood_now", 3.0, None), ("note", None, "slept badly")]
    assert all(r.recorded_at == clock.now for r in rows)


async def test_checkin_suggests_one_recorded_step_and_feedback_reaches_it(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    steps = load_steps(DIALOGS / "steps.yaml")
    service = PatientService(session_factory, Engine(library()), clock, steps=steps)
    for text in ONBOARDING:
        await service.handle(CHAT, TextMessage(text))
    clock.now += dt.timedelta(days=10)
    await service.handle(CHAT, StartDialog("daily_checkin"))
    replies: list[str] = []
    for text in ["5", "5", "skip"]:
        replies += [r.text for r in (await service.handle(CHAT, TextMessage(text))).replies]
    async with session_factory() as session:
        suggestion = (await session.execute(select(StepSuggestion))).scalar_one()
    step = steps.get(suggestion.step_id)
    assert step is not None and any(step.title in text for text in replies)
    assert suggestion.reason, "each suggestion records why it was chosen"
    clock.now += dt.timedelta(days=1)
    await service.handle(CHAT, StartDialog("daily_checkin"))
    for text in ["5", "5", "it helped"]:
        await service.handle(CHAT, TextMessage(text))
    async with session_factory() as session:
        first = await session.get(StepSuggestion, suggestion.id)
    assert first is not None and first.feedback == "helped" and first.feedback_at == clock.now


async def test_no_step_is_suggested_while_a_red_flag_is_open(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    service = PatientService(session_factory, Engine(library()), clock,
                             steps=load_steps(DIALOGS / "steps.yaml"))
    for text in ONBOARDING:
        await service.handle(CHAT, TextMessage(text))
    await service.handle(CHAT, TextMessage("I have a high temperature and night sweats"))
    clock.now += dt.timedelta(days=10)
    await service.handle(CHAT, StartDialog("daily_checkin"))
    for text in ["5", "5", "skip"]:
        await service.handle(CHAT, TextMessage(text))
    assert await count(session_factory, StepSuggestion) == 0
