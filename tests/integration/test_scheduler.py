"""The scheduler on a real database with a controllable clock: local times across clock changes, quiet
hours, reminders and misses, pause, resume and stop, and restarts inside and outside the grace window."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import schedule_store
from coachbot.adapters.db.models import OutboxMessage, Patient
from coachbot.engine import StartDialog, TextMessage
from tests.support.basics import Clock
from tests.support.scheduler_world import TICK_DELAY, UTC, World

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def world(sessions: async_sessionmaker[AsyncSession], now: dt.datetime) -> World:
    return World(sessions, Clock(now))


@pytest.mark.parametrize(("zone", "at", "change", "expected_utc"), [
    # London springs forward on Sunday 29 March: 01:30 does not exist, the check-in goes at 02:00 BST.
    ("Europe/London", dt.time(1, 30), dt.date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),
    # London falls back on Sunday 25 October: 01:30 happens twice, the check-in goes at the first.
    ("Europe/London", dt.time(1, 30), dt.date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
    ("America/New_York", dt.time(2, 30), dt.date(2026, 3, 8), utc(2026, 3, 8, 7, 0)),
    ("America/New_York", dt.time(1, 30), dt.date(2026, 11, 1), utc(2026, 11, 1, 5, 30)),
    ("Australia/Sydney", dt.time(2, 30), dt.date(2026, 10, 4), utc(2026, 10, 3, 16, 0)),
    ("Australia/Sydney", dt.time(2, 30), dt.date(2026, 4, 5), utc(2026, 4, 4, 15, 30)),
])
async def test_check_ins_go_once_a_local_day_at_the_local_time_across_a_clock_change(
        session_factory: async_sessionmaker[AsyncSession], zone: str, at: dt.time, change: dt.date,
        expected_utc: dt.datetime) -> None:
    tz = ZoneInfo(zone)
    w = world(session_factory, dt.datetime.combine(change - dt.timedelta(days=2), dt.time(12), tzinfo=tz))
    patient = await w.add_patient(zone, at, weekly_day=2)
    w.scheduler()
    await w.run_until(w.clock() + dt.timedelta(days=4))

    sent = w.checkins_sent(patient.chat_id)
    days = [s.at.astimezone(tz).date() for s in sent]
    assert days == [change - dt.timedelta(days=1) + dt.timedelta(days=i) for i in range(4)], "one a day"
    runs = await w.runs(patient.id)
    assert [r.local_date for r in runs] == days
    on_change = next(r for r in runs if r.local_date == change)
    assert on_change.due_at == expected_utc
    for run in runs:
        if run.local_date != change:
            assert run.due_at.astimezone(tz).time() == at


async def test_the_weekly_review_replaces_the_check_in_on_its_day_across_a_clock_change(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 10, 23, 12))
    patient = await w.add_patient("Europe/London", dt.time(1, 30), weekly_day=6)  # Sunday 25 Oct
    w.scheduler()
    await w.run_until(utc(2026, 10, 27, 12))
    runs = await w.runs(patient.id)
    assert [(r.dialog, r.local_date.day) for r in runs] == [
        ("daily", 24), ("weekly", 25), ("daily", 26), ("daily", 27)]
    assert runs[1].due_at == utc(2026, 10, 25, 0, 30)
    assert "weekly review" in w.checkins_sent(patient.chat_id)[1].text


async def test_a_reminder_goes_once_after_three_hours_and_an_unanswered_check_in_is_missed_next_day(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))  # Monday; 07:00 BST
    patient = await w.add_patient(at=dt.time(9))
    w.scheduler()
    await w.run_until(utc(2026, 6, 1, 10, 55))
    assert len(w.checkins_sent(patient.chat_id)) == 1 and not w.reminders_sent(patient.chat_id)
    await w.run_until(utc(2026, 6, 1, 20))
    reminders = w.reminders_sent(patient.chat_id)
    assert len(reminders) == 1, "at most one reminder"
    assert reminders[0].at == utc(2026, 6, 1, 11) + 2 * TICK_DELAY  # 3 h after it was delivered
    assert [r.status for r in await w.runs(patient.id)] == ["sent"]

    await w.run_until(utc(2026, 6, 2, 8, 5))  # the next check-in starts
    first, second = await w.runs(patient.id)
    assert (first.status, first.reason) == ("missed", "unanswered")
    assert second.status == "sent"


async def test_an_answered_check_in_gets_no_reminder_and_is_recorded_answered(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))
    patient = await w.add_patient(at=dt.time(9))
    w.scheduler()
    await w.run_until(utc(2026, 6, 1, 8, 30))
    await w.service.handle(patient.chat_id, TextMessage("4"))  # pain now
    await w.run_until(utc(2026, 6, 1, 20))
    assert not w.reminders_sent(patient.chat_id)
    await w.run_until(utc(2026, 6, 2, 8, 5))
    assert [r.status for r in await w.runs(patient.id)] == ["answered", "sent"]


@pytest.mark.parametrize(("answered", "closed_as"), [(True, "answered"), (False, "missed")])
async def test_a_check_in_not_sent_next_day_still_closes_the_one_before(
        session_factory: async_sessionmaker[AsyncSession], answered: bool, closed_as: str) -> None:
    """Found by the soak: a patient who blocked the bot after answering kept that check-in "sent" for
    good, because only a check-in that starts closed the ones before it (at 20:00 no reminder, whose
    tick would have closed it, is due)."""
    w = world(session_factory, utc(2026, 6, 1, 6))
    patient = await w.add_patient(at=dt.time(20))
    w.scheduler()
    await w.run_until(utc(2026, 6, 1, 19, 30))
    if answered:
        await w.service.handle(patient.chat_id, TextMessage("4"))  # pain now
    async with session_factory() as session, session.begin():  # as a 403 from Telegram marks them
        (await session.get_one(Patient, patient.id)).unreachable = True
    await w.run_until(utc(2026, 6, 2, 19, 5))
    assert [(r.status, r.reason) for r in await w.runs(patient.id)] == [
        (closed_as, None if answered else "unanswered"), ("skipped", "unreachable")]


async def test_quiet_hours_hold_back_a_reminder_and_a_late_check_in_but_not_the_chosen_time(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 12))
    evening = await w.add_patient(at=dt.time(19))      # reminder at 22:00 is quiet: dropped
    night = await w.add_patient(at=dt.time(22, 30))    # chosen inside quiet hours: honoured
    late = await w.add_patient(at=dt.time(20, 45))     # the bot is down 20:30-21:15
    w.scheduler()
    await w.run_until(utc(2026, 6, 1, 19, 30))         # 20:30 BST
    w.clock.now = utc(2026, 6, 1, 20, 15)              # back at 21:15 BST
    await w.run_until(utc(2026, 6, 2, 6, 59))          # until 07:59 BST
    assert len(w.checkins_sent(evening.chat_id)) == 1 and not w.reminders_sent(evening.chat_id)
    assert [s.at for s in w.checkins_sent(night.chat_id)] == [utc(2026, 6, 1, 21, 30) + TICK_DELAY]
    assert not w.checkins_sent(late.chat_id)
    (run,) = await w.runs(late.id)
    assert (run.status, run.reason) == ("missed", "quiet_hours")
    assert all(not (dt.time(21) <= s.at.astimezone(ZoneInfo("Europe/London")).time()
                    or s.at.astimezone(ZoneInfo("Europe/London")).time() < dt.time(8))
               for s in w.sent if s.chat_id != night.chat_id), "nothing else in quiet hours"


async def test_a_backlog_starts_just_ahead_of_the_sender_and_is_not_late_even_into_quiet_hours(
        session_factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    w = world(session_factory, utc(2026, 6, 1, 19, 58))
    patients = [await w.add_patient(at=dt.time(20, 59)) for _ in range(12)]
    w.scheduler(max_backlog=4)
    caplog.set_level(logging.INFO, logger="coachbot.scheduler")
    w.clock.now = utc(2026, 6, 1, 19, 59, 5)  # 20:59:05 BST
    most_unsent = 0
    for _ in range(40):  # a tick every 10 s; a slow sender takes one message a tick
        await w.tick()
        most_unsent = max(most_unsent, await w.unsent())
        await w.deliver(limit=1)
        w.clock.advance(seconds=10)
    assert most_unsent == 4, "never more than the backlog allowed ahead of the sender"
    assert [len(w.checkins_sent(p.chat_id)) for p in patients] == [1] * 12
    assert w.sent[-1].at > utc(2026, 6, 1, 20, 0, 30), "the last ones went out in quiet hours"
    assert {(r.status, r.reason) for r in await w.runs()} == {("sent", None)}
    assert "started behind a backlog" in caplog.text and "queued late" not in caplog.text


class FlakySessions:
    """The scheduler's database connection, which fails once (the server restarting) and then works."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions, self.failures = sessions, 1

    def __call__(self) -> AsyncSession:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database went away for a moment")
        return self.sessions()


async def test_the_apscheduler_job_ticks_by_itself_and_survives_a_failing_tick(
        session_factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    w = world(session_factory, utc(2026, 6, 1, 7, 59))
    patient = await w.add_patient(at=dt.time(9))
    scheduler = w.scheduler(tick_seconds=0.05)
    scheduler.sessions = FlakySessions(session_factory)  # type: ignore[assignment]
    w.clock.now = utc(2026, 6, 1, 8, 0, 1)
    scheduler.start()
    try:
        for _ in range(250):
            runs = await w.runs(patient.id)
            if runs and runs[0].status == "queued":
                break
            await asyncio.sleep(0.02)
    finally:
        await scheduler.stop()
    assert [r.status for r in await w.runs(patient.id)] == ["queued"]
    assert "scheduler tick failed; the next tick retries" in caplog.text


async def test_a_restart_inside_the_grace_window_sends_late_and_logs_why(
        session_factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))
    patient = await w.add_patient(at=dt.time(9), name="Rosalind")
    w.clock.now = utc(2026, 6, 1, 9, 30)  # down from 07:00 to 10:30 BST: 1h30 late
    fresh = w.scheduler("after-restart")
    caplog.set_level(logging.INFO, logger="coachbot.scheduler")
    await fresh.prepare()
    report = (await w.tick())[0]
    await w.deliver()
    assert (report.queued, report.late) == (1, 1)
    assert len(w.checkins_sent(patient.chat_id)) == 1
    (record,) = [r for r in caplog.records if "queued late" in r.getMessage()]
    message = record.getMessage()
    assert patient.label in message and "1h30m" in message and "no scheduler was running" in message
    assert "Rosalind" not in caplog.text and "pain" not in caplog.text.lower()


async def test_a_restart_outside_the_grace_window_records_the_check_in_missed(
        session_factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))
    patient = await w.add_patient(at=dt.time(9))
    w.clock.now = utc(2026, 6, 1, 10, 30)  # 2h30 after 09:00 BST
    w.scheduler()
    caplog.set_level(logging.INFO, logger="coachbot.scheduler")
    await w.tick()
    await w.deliver()
    assert not w.checkins_sent(patient.chat_id)
    (run,) = await w.runs(patient.id)
    assert (run.status, run.reason, run.local_date) == ("missed", "grace_expired", dt.date(2026, 6, 1))
    assert "recorded missed: grace_expired" in caplog.text
    schedule = await w.schedule(patient.id)
    assert schedule is not None and schedule.next_due_at == utc(2026, 6, 2, 8)


async def test_pause_for_days_then_resume_by_itself_and_resume_early(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))
    patient = await w.add_patient(at=dt.time(9))
    w.scheduler()
    await w.service.handle(patient.chat_id, TextMessage("pause 2"))  # until 07:00 UTC on 3 June
    await w.run_until(utc(2026, 6, 4, 12))
    days = [s.at.date() for s in w.checkins_sent(patient.chat_id)]
    assert days == [dt.date(2026, 6, 3), dt.date(2026, 6, 4)]

    await w.service.handle(patient.chat_id, TextMessage("pause"))  # until /resume
    await w.run_until(utc(2026, 6, 6, 12))
    assert len(w.checkins_sent(patient.chat_id)) == 2
    await w.service.handle(patient.chat_id, TextMessage("resume"))  # 13:00 BST: next is tomorrow
    assert (await w.schedule(patient.id)).next_due_at == utc(2026, 6, 7, 8)  # type: ignore[union-attr]
    await w.run_until(utc(2026, 6, 7, 12))
    assert len(w.checkins_sent(patient.chat_id)) == 3


async def test_stop_while_the_check_in_is_queued_means_it_never_goes_out(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 7, 59))
    patient = await w.add_patient(at=dt.time(9))
    w.scheduler()
    w.clock.now = utc(2026, 6, 1, 8, 0, 5)
    await w.tick()  # queued in the outbox, not yet delivered
    async with session_factory() as session:
        queued = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.chat_id == patient.chat_id))).scalars().all()
    assert [(r.lane, r.sent_at) for r in queued] == [(1, None)]

    result = await w.service.handle_update(1, patient.chat_id, TextMessage("stop"))
    await w.deliver()
    assert [s.lane for s in w.sent] == [0], "only the reply to /stop"
    assert result.queued and "stopped" in w.sent[0].text.lower()
    (run,) = await w.runs(patient.id)
    assert (run.status, run.reason) == ("skipped", "stopped")
    await w.run_until(utc(2026, 6, 4, 12))
    assert not w.checkins_sent(patient.chat_id), "no messages at all until /start"

    await w.service.handle(patient.chat_id, TextMessage("/start"))  # 13:00 BST on 4 June
    await w.run_until(utc(2026, 6, 5, 12))
    assert [s.at.date() for s in w.checkins_sent(patient.chat_id)] == [dt.date(2026, 6, 5)]


async def test_pause_after_the_claim_but_before_the_start_sends_nothing(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 7, 59))
    patient = await w.add_patient(at=dt.time(9))
    scheduler = w.scheduler()
    w.clock.now = utc(2026, 6, 1, 8, 0, 5)
    (claim,) = await scheduler.claim_only()
    await w.service.handle(patient.chat_id, TextMessage("pause"))
    await w.tick()
    await w.deliver()
    assert not w.checkins_sent(patient.chat_id)
    (run,) = await w.runs(patient.id)
    assert (run.id, run.status, run.reason) == (claim.run_id, "skipped", "paused")


async def test_a_check_in_the_patient_started_or_did_themselves_today_is_not_started_again(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))
    started = await w.add_patient(at=dt.time(9))
    answered = await w.add_patient(at=dt.time(9))
    w.scheduler()
    w.clock.now = utc(2026, 6, 1, 7, 58)  # 08:58 BST: both ask for their check-in with /checkin
    for patient in (started, answered):
        await w.service.handle(patient.chat_id, StartDialog("daily_checkin"))
    await w.service.handle(answered.chat_id, TextMessage("5"))
    await w.run_until(utc(2026, 6, 1, 8, 30))
    assert not w.checkins_sent(started.chat_id) and not w.checkins_sent(answered.chat_id)
    assert [(r.status, r.reason) for r in await w.runs(started.id)] == [("skipped", "already_running")]
    assert [(r.status, r.reason) for r in await w.runs(answered.id)] == [("skipped", "done_today")]


async def test_a_new_time_takes_effect_from_the_next_occurrence(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))
    patient = await w.add_patient(at=dt.time(9))
    w.scheduler()
    await w.run_until(utc(2026, 6, 1, 9))  # 10:00 BST: today's went at 09:00
    async with session_factory() as session, session.begin():  # what /settings does to the row
        row = await session.get(Patient, patient.id)
        assert row is not None
        row.checkin_time = dt.time(18)
        await schedule_store.patient_changed(session, row, w.clock(), {"daily": "daily_checkin",
                                                                      "weekly": "weekly_review"})
    await w.run_until(utc(2026, 6, 2, 20))
    assert [s.at - TICK_DELAY for s in w.checkins_sent(patient.chat_id)] == [utc(2026, 6, 1, 8),
                                                                              utc(2026, 6, 2, 17)]


async def test_a_time_changed_behind_the_services_back_is_picked_up_at_the_old_due_time(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 6))
    patient = await w.add_patient(at=dt.time(9))
    w.scheduler()
    async with session_factory() as session, session.begin():
        row = await session.get(Patient, patient.id)
        assert row is not None
        row.checkin_time = dt.time(11)  # no hook: the schedule still says 09:00
    await w.run_until(utc(2026, 6, 1, 11))
    assert [s.at - TICK_DELAY for s in w.checkins_sent(patient.chat_id)] == [utc(2026, 6, 1, 10)]


async def test_finishing_onboarding_creates_the_schedule_in_the_same_transaction(
        session_factory: async_sessionmaker[AsyncSession]) -> None:
    w = world(session_factory, utc(2026, 6, 1, 12))
    for text in ["hello", "yes", "Alex", "no", "no", "6", "4", "no", "working", "8am", "sunday", "UK"]:
        await w.service.handle(4242, TextMessage(text))
    async with session_factory() as session:
        patient = (await session.execute(select(Patient).where(Patient.chat_id == 4242))).scalar_one()
    assert patient.onboarded_at is not None
    daily = await w.schedule(patient.id)
    assert daily is not None and daily.next_due_at == utc(2026, 6, 2, 7)
