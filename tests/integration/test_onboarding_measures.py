"""Onboarding through the real service and database: an emergency red flag no longer drops the
patient out (they are active, with a check-in time and a baseline, and the coach has an urgent
alert), and the answers that gate steps (diabetes or nerve damage, work) reach the step policy."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import Escalation, Measurement, Patient
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.self_management.suggestions import patient_state
from coachbot.engine import StartDialog, TextMessage
from tests.support.basics import Clock
from tests.support.self_management import make_service

CHAT = 5151


async def onboard(sessions: async_sessionmaker[AsyncSession], clock: Clock, answers: list[str]) -> str:
    service = make_service(sessions, clock)
    said = []
    for text in answers:
        delivery = await service.handle(CHAT, TextMessage(text))
        said.extend(r.text for r in delivery.replies)
    return "\n".join(said)


async def the_patient(sessions: async_sessionmaker[AsyncSession]) -> Patient:
    async with sessions() as session:
        return (await session.execute(select(Patient))).scalar_one()


async def test_after_an_emergency_red_flag_onboarding_finishes_with_a_checkin_time_and_an_urgent_alert(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    said = await onboard(session_factory, clock, ["hello", "yes", "Alex", "yes"])
    assert "call 999 or go to A&E now" in said and "finish setting up" in said
    said = await onboard(session_factory, clock, ["7", "4", "no", "working", "8am", "sunday", "UK"])
    assert "You are all set" in said
    patient = await the_patient(session_factory)
    async with session_factory() as session:
        alerts = (await session.execute(select(Escalation.tier, Escalation.rule))).all()
        codes = set((await session.execute(select(Measurement.code))).scalars())
    assert patient.status == "active" and patient.onboarded_at is not None
    assert patient.checkin_time == dt.time(8) and patient.timezone == "Europe/London"
    assert ("urgent", "red_flag_emergency") in alerts
    assert {"rf_emergency", "pain_usual", "mood_usual"} <= codes
    async with session_factory() as session:
        state = await patient_state(joined(session), await session.get(Patient, patient.id), clock.now)  # type: ignore[arg-type]
    assert "red_flag" in state.flags  # no steps until a coach has spoken with the patient


async def flags_after(sessions: async_sessionmaker[AsyncSession], clock: Clock, neuropathy: str,
                      work: str) -> frozenset[str]:
    answers = ["hello", "yes", "Sam", "no", "no", "4", "5", neuropathy, work, "9am", "sunday", "UK"]
    await onboard(sessions, clock, answers)
    clock.now += dt.timedelta(days=40)  # standing answers count however old they are
    patient = await the_patient(sessions)
    async with sessions() as session:
        return (await patient_state(joined(session), patient, clock.now)).flags


async def test_diabetes_or_nerve_damage_at_onboarding_sets_the_neuropathy_gate(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    flags = await flags_after(session_factory, Clock(), "yes", "working")
    assert "neuropathy" in flags and "not_working" not in flags


async def test_retired_at_onboarding_sets_the_not_working_gate(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    flags = await flags_after(session_factory, clock, "no", "retired")
    assert "not_working" in flags and "neuropathy" not in flags


async def test_off_sick_at_the_fourth_weekly_review_replaces_not_working_from_onboarding(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock()
    await onboard(session_factory, clock, ["hello", "yes", "Sam", "no", "no", "4", "5", "no", "not working",
                                           "9am", "sunday", "UK"])
    async with session_factory() as session:
        before = (await patient_state(joined(session), await the_patient(session_factory), clock.now)).flags
    assert "not_working" in before
    service = make_service(session_factory, clock)
    clock.now += dt.timedelta(days=29)
    await service.handle(CHAT, StartDialog("weekly_review"))
    patient = await the_patient(session_factory)
    assert patient.onboarded_at is not None
    days = (clock.now.date() - patient.onboarded_at.date()).days
    assert 28 <= days <= 34  # the fourth weekly review asks about work
    for text in ["3", "3", "3", "0", "0", "0", "0", "6", "3", "off sick"]:
        await service.handle(CHAT, TextMessage(text))
    async with session_factory() as session:
        row = await session.get(Patient, patient.id)
        flags = (await patient_state(joined(session), row, clock.now)).flags  # type: ignore[arg-type]
    assert "not_working" not in flags  # off sick still has a manager to talk to
