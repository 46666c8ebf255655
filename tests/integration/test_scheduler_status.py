"""`coachbot schedule status`: what an operator sees about today's check-ins, counted from the tables."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import OutboxMessage, Patient
from coachbot.adapters.db.schedule_status import day_counts
from coachbot.cli import main
from coachbot.engine import TextMessage
from tests.support.basics import Clock
from tests.support.scheduler_world import UTC, World

DAY = dt.date(2026, 6, 1)


async def test_status_counts_due_queued_sent_answered_missed_skipped_and_later(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = World(session_factory, Clock(dt.datetime(2026, 6, 1, 5, tzinfo=UTC)))
    answering = await w.add_patient(at=dt.time(9))
    silent = await w.add_patient(at=dt.time(9))
    stopped = await w.add_patient(at=dt.time(9))                      # stops, but not through the bot
    await w.add_patient(at=dt.time(9))                                  # its check-in stays queued
    await w.add_patient(at=dt.time(20))                                 # later today
    missed = await w.add_patient(at=dt.time(6))                         # down until 09:00 BST
    w.scheduler()
    async with session_factory() as session, session.begin():
        (await session.get(Patient, stopped.id)).status = "stopped"  # type: ignore[union-attr]
    w.clock.now = dt.datetime(2026, 6, 1, 8, 0, tzinfo=UTC)           # 09:00 BST
    await w.tick()
    async with session_factory() as session, session.begin():
        # What the sender did: two check-ins went out, one is still waiting for its turn.
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        for row in rows:
            if row.chat_id in (answering.chat_id, silent.chat_id):
                row.sent_at = w.clock()
    await w.tick()
    await w.service.handle(answering.chat_id, TextMessage("3"))
    w.clock.advance(minutes=1)
    async with session_factory() as session:
        counts = await day_counts(session, DAY, w.clock())
    assert counts.by_status == {"sent": 1, "answered": 1, "queued": 1, "skipped": 1, "missed": 1}
    assert counts.later == 1 and counts.due_now == 0
    assert counts.reasons == {("skipped", "stopped"): 1, ("missed", "grace_expired"): 1}
    report = counts.report(w.clock())
    assert "  missed          1  grace_expired 1" in report and "  later           1" in report
    assert "  late            0" in report
    assert stopped.label not in report and missed.label not in report


def test_the_command_prints_today_and_refuses_a_bad_date(migrated_url: str, capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    assert main(["schedule", "status", "--database-url", migrated_url, "--date", "2026-06-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("check-ins for the patients' local date 2026-06-01")
    for state in ("due", "queued", "sent", "answered", "late", "missed", "skipped", "later"):
        assert f"\n  {state} " in out
    with pytest.raises(SystemExit):
        main(["schedule", "status", "--date", "1 June"])
