"""The scheduler: one recurring APScheduler job that turns due rows into check-ins, through the outbox.

There is no timer per patient. Each patient's next due time is a row (`schedules`); every tick:

1. marks runs whose first message the outbox delivered as sent, with the time of their reminder;
2. claims due rows in one short transaction: a run per (patient, dialog, local date) is inserted with
   ON CONFLICT DO NOTHING and each schedule moves on (PostgreSQL locks the rows it takes with SKIP
   LOCKED, so a second process takes other rows instead of waiting); then takes over claims another
   process left unstarted for `claim_timeout` (it was killed between claim and send);
3. starts the claimed runs a batch per transaction: a compare-and-set on each claim, the engine's
   StartDialog, the outbox rows (lane 1) and the runs' new state commit together, so each check-in
   is queued exactly once and is sent exactly when the outbox delivers it (if a batch fails, its runs
   are retried one transaction each, so one bad patient holds up nobody);
4. queues the one reminder of each check-in still unanswered after the delay (`reminders.py`).

Time comes from the injected clock, so tests drive whole days without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import schedule_store as runs
from coachbot.adapters.db.models import Patient, Schedule
from coachbot.adapters.db.unit_of_work import WriteGate, write_gate
from coachbot.app.channel import Channel, QueuedMessage
from coachbot.app.checkins.reminders import Reminders, TickReport, ago
from coachbot.app.checkins.start import CheckinStarter, Claim
from coachbot.app.data_rights.outbox_bodies import BodyClearing
from coachbot.app.escalations.deadlines import EscalationTicker
from coachbot.app.failures import described
from coachbot.app.pipeline import PatientService
from coachbot.config import Settings
from coachbot.scheduling import (
    Dialog,
    Occurrence,
    QuietHours,
    StartDecision,
    Timing,
    decide_start,
    following,
    next_occurrence,
    occurrence_on,
)

log = logging.getLogger("coachbot.scheduler")

Clock = Callable[[], dt.datetime]
OnQueued = Callable[[list[QueuedMessage]], None]
JOB_ID = "coachbot-checkins"
STALLED = dt.timedelta(minutes=5)
"""No tick for this long (the process was suspended, the database away, the clock jumped) counts as
the scheduler not running: what fell due meanwhile is late, and the grace window applies to it. A
busy event loop that delays ticks by seconds is not a stall."""


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """How the tick behaves; `config_from_settings` makes one from the environment."""

    timing: Timing = field(default_factory=Timing)
    tick_seconds: float = 10.0
    claim_timeout: dt.timedelta = dt.timedelta(seconds=60)
    #: Due rows claimed per transaction.
    batch: int = 200
    #: Runs started per transaction.
    start_batch: int = 20
    #: Check-ins started per second at most (None: as fast as the database goes). Telegram takes
    #: about 30 a second, so starting thousands faster only grows the outbox, and on SQLite it would
    #: hold the one write lock against patients who are answering; twice the sending rate is ample.
    start_rate: float | None = 60.0
    #: Unsent bulk rows (lane 1) in the outbox above which no more check-ins start (None: no limit);
    #: enough to keep the sender busy until the next tick. Starting just ahead of the sender keeps
    #: its queue short, and a /pause or /stop before the start needs no cancelling at all.
    max_backlog: int | None = 300
    reminder_text: str = "A gentle reminder: your check-in is still waiting for you, whenever you are ready."
    #: Sent messages' words are cleared from the outbox after this long (None: kept; data rights).
    keep_sent: dt.timedelta | None = None


def instance_name() -> str:
    """host:pid:random, so a claim says which process holds it (and a restarted one is new)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class CheckinScheduler:
    """One per bot process; any number of processes may share one PostgreSQL database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], service: PatientService,
                 channel: Channel, config: SchedulerConfig | None = None, *, clock: Clock,
                 instance: str | None = None, on_queued: OnQueued | None = None) -> None:
        self.sessions, self.service, self.channel = sessions, service, channel
        self.config = config or SchedulerConfig()
        self.clock = clock
        self.me = instance or instance_name()
        self.on_queued = on_queued or (lambda rows: None)
        names = service.engine.library.service
        self.scripts = {"daily": names.daily, "weekly": names.weekly}
        # The service's units of work hold the database's write gate: on SQLite every writer of this
        # process queues on it instead of sleeping in SQLite's busy handler (a check-in batch never
        # leaves an answer waiting long). The tick's own writes below take the same one.
        self.uows = service.uows
        self.gate: WriteGate = write_gate(sessions)

        def hand_over(rows: list[QueuedMessage]) -> None:
            self.on_queued(rows)  # looked up at each call: the sender may be attached later

        self.reminders = Reminders(self.uows, channel, self.config.timing, self.config.reminder_text,
                                   self.scripts, clock=clock, on_queued=hand_over)
        self.starter = CheckinStarter(self.uows, service, channel, self.config, self.scripts, me=self.me,
                                      clock=clock, on_queued=hand_over)
        self.escalations = EscalationTicker(self.uows, service, channel, clock=clock,
                                            on_queued=hand_over)  # re-sends past deadlines; missed check-ins
        self.bodies = BodyClearing(sessions, self.config.keep_sent, clock=clock)
        self._apscheduler: AsyncIOScheduler | None = None
        self._alive_since: dt.datetime | None = None
        self._last_tick: dt.datetime | None = None
        self._ticking: asyncio.Task[Any] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def prepare(self, batch: int = 5000) -> int:
        """Give every onboarded patient without a schedule one (after an upgrade); cheap when done."""
        made = 0
        while True:
            async with self.gate, self.sessions() as session, session.begin():
                has_schedule = select(Schedule.patient_id).where(Schedule.patient_id == Patient.id).exists()
                missing = (await session.execute(select(Patient).where(
                    Patient.onboarded_at.is_not(None), ~has_schedule).limit(batch))).scalars().all()
                for patient in missing:
                    await runs.reschedule(session, patient, self.clock())
            made += len(missing)
            if len(missing) < batch:
                return made

    def start(self) -> AsyncIOScheduler:
        """Start the one interval job; its first run is now, which sends what fell due while down."""
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        scheduler.add_job(self.tick_safely, "interval", seconds=self.config.tick_seconds, id=JOB_ID,
                          max_instances=1, coalesce=True, misfire_grace_time=None,
                          next_run_time=dt.datetime.now(dt.UTC))
        scheduler.start()
        self._apscheduler = scheduler
        return scheduler

    @property
    def running(self) -> bool:
        """Whether the interval job is scheduled (between `start` and `stop`)."""
        return self._apscheduler is not None and self._apscheduler.running

    async def stop(self, patience: float = 10.0) -> None:
        """Stop the job, letting a tick in progress finish (stop this before the outbox sender).
        Each step of a tick is its own transaction, so even a tick cut short leaves nothing half-done."""
        if self._apscheduler is not None and self._apscheduler.running:
            self._apscheduler.shutdown(wait=False)
        self._apscheduler = None
        if self._ticking is not None and not self._ticking.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._ticking), patience)

    async def tick_safely(self) -> None:
        """The job: a failing tick is logged and the next one tries again (claims are not lost)."""
        self._ticking = asyncio.current_task()
        try:
            await self.tick()
        except Exception as exc:
            log.error("scheduler tick failed; the next tick retries: %s", described(exc))
        finally:
            self._ticking = None

    # -- one tick ----------------------------------------------------------------------------------
    async def tick(self) -> TickReport:
        report = TickReport()
        deadline = time.monotonic() + self.config.tick_seconds * 0.8
        now = self.clock()
        async with self.sessions() as session:
            work = await runs.probe(session, now, now - self.config.claim_timeout)
        self._note_alive(now)
        if work.delivered:
            await self.reminders.mark_delivered(report)
        while work.due or work.stale:
            room = await self._room()
            if room <= 0:  # the outbox has enough to send until the next tick: stay just ahead of it
                break
            claims = (await self._claim(report, room) if work.due else []) + (
                await self._reclaim(report) if work.stale else [])
            await self.start_claims(claims, report)
            if len(claims) < min(room, self.config.batch) or time.monotonic() > deadline:
                break
        if work.reminders:
            await self.reminders.send_due(report, self.config.batch)
        await self.escalations.tick()
        await self.bodies.tick()  # sent messages' words, past COACHBOT_OUTBOX_KEEP_SENT_HOURS
        self._log(report)
        return report

    def _note_alive(self, now: dt.datetime) -> None:
        """Since when this process has been ticking without a gap: what fell due before that fell due
        while no scheduler ran (late, subject to the grace window); after it, only a backlog."""
        if self._last_tick is None or now - self._last_tick > STALLED or now < self._last_tick:
            self._alive_since = now
        self._last_tick = now

    def _noticed(self, due_at: dt.datetime, now: dt.datetime) -> dt.datetime:
        return min(now, max(due_at, self._alive_since or now))

    async def _room(self) -> int:
        """How many more check-ins to start now: the bulk rows the outbox may hold, minus those it has."""
        if self.config.max_backlog is None:
            return self.config.batch
        async with self.sessions() as session:
            return self.config.max_backlog - await runs.pending_bulk(session)

    async def claim_only(self) -> list[Claim]:
        """Step 2 alone: what a process killed right after claiming leaves behind (for tests)."""
        self._note_alive(self.clock())
        return await self._claim(TickReport(), self.config.batch)

    async def _claim(self, report: TickReport, room: int) -> list[Claim]:
        now, timing = self.clock(), self.config.timing
        async with self.gate, self.sessions() as session, session.begin():
            decided: list[tuple[Patient, Occurrence, StartDecision, dt.datetime]] = []
            for schedule, patient in await runs.due_schedules(session, now, min(room, self.config.batch)):
                profile = runs.profile_of(patient)
                assert schedule.next_due_at is not None and schedule.local_date is not None
                dialog: Dialog = "weekly" if schedule.dialog == "weekly" else "daily"
                expected = occurrence_on(profile, dialog, schedule.local_date)
                if expected is None or expected.due_at != schedule.next_due_at:
                    # Settings changed by something other than the service: recompute, send nothing.
                    after = await runs.last_run_date(session, patient.id, dialog)
                    nxt = next_occurrence(profile, dialog, now, after_date=after)
                    await runs.put_schedule(session, patient.id, dialog, nxt, now)
                    report.rescheduled += 1
                    continue
                noticed = self._noticed(expected.due_at, now)
                decision = decide_start(expected, profile, now, timing, noticed_at=noticed)
                decided.append((patient, expected, decision, noticed))
                await runs.put_schedule(session, patient.id, dialog,
                                        following(profile, expected, now, timing.grace), now)
            inserted = await runs.insert_runs(session, [self._run_values(p.id, o, d, now)
                                                        for p, o, d, _ in decided])
            # A day not sent (unreachable, grace expired) still ends the check-ins before it, as a
            # start does: one answered is recorded answered, not left "sent" for good (the soak
            # found a blocked patient's last answered check-in never recorded answered).
            not_sent = [p.id for p, o, d, _ in decided if d.action != "send" and (p.id, o.dialog) in inserted]
            if not_sent:
                await runs.close_open_runs(session, not_sent, now, self.scripts, status="missed",
                                           reason="unanswered", keep=set(inserted.values()))
        claims = []
        for patient, occurrence, decision, noticed in decided:
            run_id = inserted.get((patient.id, occurrence.dialog))
            if run_id is None:
                report.duplicates += 1  # another process (or an earlier tick) has this day
            elif decision.action == "send":
                claims.append(Claim(run_id, patient.id, noticed))
            else:
                report.count(decision.action, decision.reason)
                self.starter.log_not_sent(patient.label, occurrence, decision)
        report.claimed += len(claims)
        return claims

    def _run_values(self, patient_id: int, occurrence: Occurrence, decision: StartDecision,
                    now: dt.datetime) -> dict[str, object]:
        send = decision.action == "send"
        return dict(patient_id=patient_id, dialog=occurrence.dialog, local_date=occurrence.local_date,
                    due_at=occurrence.due_at, status="claimed" if send else decision.action,
                    reason=None if send else decision.reason, claimed_by=self.me if send else None,
                    claimed_at=now if send else None, closed_at=None if send else now)

    async def _reclaim(self, report: TickReport) -> list[Claim]:
        now = self.clock()
        async with self.gate, self.sessions() as session, session.begin():
            taken = await runs.take_stale_claims(session, self.me, now, now - self.config.claim_timeout,
                                                 self.config.batch)
        if taken:
            log.warning("took over %d check-in(s) claimed more than %s ago by a process that did not "
                        "start them", len(taken), ago(self.config.claim_timeout))
        report.reclaimed += len(taken)
        return [Claim(run_id, patient_id, now, reclaimed=True) for run_id, patient_id in taken]

    async def start_claims(self, claims: Sequence[Claim], report: TickReport | None = None) -> TickReport:
        """Step 3 (`checkin_start.py`): start claimed runs, a batch per transaction."""
        return await self.starter.start_claims(claims, report)

    def _log(self, report: TickReport) -> None:
        if report.behind:
            log.info("%d check-in(s) started behind a backlog, up to %s after their time: they wait "
                     "for Telegram's pace, and count as on time", report.behind, ago(report.behind_by))
        if report.claimed or report.reclaimed or report.missed or report.reminders:
            log.info("tick: %d claimed, %d reclaimed, %d queued (%d late), %d missed, %d skipped, "
                     "%d reminders, reasons %s", report.claimed, report.reclaimed, report.queued,
                     report.late, report.missed, report.skipped, report.reminders, report.reasons)


async def launch(sessions: async_sessionmaker[AsyncSession], service: PatientService, channel: Channel,
                 settings: Settings, *, clock: Clock, on_queued: OnQueued) -> CheckinScheduler:
    """What `coachbot run` does once its outbox sender has started: check every onboarded patient has
    a schedule, then start the interval job (its first tick, at once, sends what fell due while the
    bot was down). `on_queued` is the sender's `offer`; stop with `CheckinScheduler.stop()` before
    stopping the sender."""
    scheduler = CheckinScheduler(sessions, service, channel, config_from_settings(settings), clock=clock,
                                 on_queued=on_queued)
    made = await scheduler.prepare()
    if made:
        log.warning("gave %d patient(s) without a schedule their next check-in", made)
    scheduler.start()
    return scheduler


def config_from_settings(settings: Settings) -> SchedulerConfig:
    """The scheduler's configuration from the validated settings."""
    start, end = (dt.time.fromisoformat(part) for part in settings.schedule_quiet_hours.split("-"))
    tick = settings.schedule_tick_seconds
    timing = Timing(quiet=QuietHours(start, end),
                    grace=dt.timedelta(minutes=settings.schedule_grace_minutes),
                    reminder_delay=dt.timedelta(minutes=settings.schedule_reminder_minutes),
                    late_after=dt.timedelta(seconds=max(60.0, 2 * tick)))
    return SchedulerConfig(timing=timing, tick_seconds=tick,
                           claim_timeout=dt.timedelta(seconds=settings.schedule_claim_timeout_seconds),
                           start_rate=2 * settings.telegram_sends_per_second,
                           max_backlog=int(2 * tick * settings.telegram_sends_per_second) + 100,
                           reminder_text=settings.schedule_reminder_text,
                           keep_sent=dt.timedelta(hours=settings.outbox_keep_sent_hours))
