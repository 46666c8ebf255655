"""The scheduler's tick drives escalations: three check-ins missed in a row reach the coach, and an
urgent one nobody acknowledges goes to the backup coach, on the scheduler's own controllable clock."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import Coach, Escalation, OutboxMessage
from coachbot.engine import TextMessage
from tests.support.basics import Clock
from tests.support.scheduler_world import UTC, World

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
COACH, BACKUP = 900, 902
START = dt.datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # Monday, an hour before the 08:00 check-ins


async def world_with_coaches(sessions: async_sessionmaker[AsyncSession]) -> World:
    w = World(sessions, Clock(START))
    async with sessions() as session, session.begin():
        session.add_all([Coach(telegram_user_id=COACH, name="Sam", created_at=START),
                         Coach(telegram_user_id=BACKUP, name="Bo", is_backup=True, created_at=START)])
    w.scheduler()
    return w


async def escalations(w: World) -> list[Escalation]:
    async with w.sessions() as session:
        return list((await session.execute(select(Escalation))).scalars())


async def test_three_check_ins_missed_in_a_row_reach_the_coach_through_the_scheduler(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = await world_with_coaches(session_factory)
    patient = await w.add_patient()
    await w.run_until(START + dt.timedelta(days=3, hours=2))  # Thursday's check-in closes Wednesday's
    [escalation] = await escalations(w)
    assert (escalation.rule, escalation.tier) == ("checkins_missed", "routine")
    assert escalation.patient_id == patient.id
    assert escalation.evidence["missed"] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert any(s.chat_id == COACH for s in w.sent)
    assert any("within 2 working days" in t for t in w.texts(patient.chat_id or 0))
    await w.run_until(START + dt.timedelta(days=4, hours=2))  # a fourth miss: the same escalation
    assert len(await escalations(w)) == 1
    assert len([s for s in w.sent if s.chat_id == COACH]) == 1


async def test_two_misses_then_an_answer_raise_nothing(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = await world_with_coaches(session_factory)
    patient = await w.add_patient()
    await w.run_until(START + dt.timedelta(days=2, hours=2))  # Monday and Tuesday missed
    await w.service.handle(patient.chat_id or 0, TextMessage("3"))  # Wednesday answered
    await w.run_until(START + dt.timedelta(days=3, hours=2))
    assert await escalations(w) == []


async def test_an_urgent_escalation_nobody_acknowledges_goes_to_the_backup_after_60_minutes(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = await world_with_coaches(session_factory)
    patient = await w.add_patient()
    await w.service.handle(patient.chat_id or 0, TextMessage("I want to kill myself"))
    await w.run_until(START + dt.timedelta(minutes=59), step=dt.timedelta(minutes=1))
    assert [s for s in w.sent if s.chat_id == BACKUP] == []
    await w.run_until(START + dt.timedelta(minutes=61), step=dt.timedelta(minutes=1))
    assert len([s for s in w.sent if s.chat_id == BACKUP]) == 1
    await w.run_until(START + dt.timedelta(minutes=91), step=dt.timedelta(minutes=1))
    assert len([s for s in w.sent if s.chat_id == BACKUP]) == 2
    async with w.sessions() as session:
        rows = (await session.execute(
            select(OutboxMessage).where(OutboxMessage.chat_id == BACKUP))).scalars().all()
    assert all(r.escalation_id is not None and r.patient_id is None for r in rows)
