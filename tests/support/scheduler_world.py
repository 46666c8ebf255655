"""A world for scheduler tests: a database, a clock that jumps, patients, and a fake outbox delivery.

Nothing sleeps: `World.run_until` moves the clock in steps and ticks every scheduler at each step, the
way the APScheduler interval job would; `deliver` plays the outbox sender (marks unsent rows sent at
the current time and remembers what each chat got), so tests count messages per chat and per day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import schedule_store
from coachbot.adapters.db.models import CheckinRun, OutboxMessage, Patient, Schedule
from coachbot.adapters.scheduler.tick import CheckinScheduler, SchedulerConfig
from coachbot.app.channel import EscalationNotice, Outgoing
from coachbot.app.checkins.reminders import TickReport
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, Reply
from coachbot.scheduling import QuietHours, Timing
from tests.support.basics import Clock, library

UTC = dt.UTC
TICK_DELAY = dt.timedelta(seconds=5)
"""How long after a due time the interval tick lands (it runs every 10 s)."""
REMINDER_START = SchedulerConfig().reminder_text[:20]


class PlainChannel:
    """A Channel that keeps each reply's text; buttons are reduced to the question token."""

    def replies(self, replies: Sequence[Reply], token: str | None) -> list[Outgoing]:
        texts = [r.text for r in replies if r.text.strip()]
        if not texts:
            return []
        payload: dict[str, Any] = {"text": "\n\n".join(texts)}
        if token and any(r.options for r in replies):
            payload["keyboard"] = token
        return [Outgoing(kind="text", payload=payload)]

    def coach_alert(self, notice: EscalationNotice, chat_id: int) -> Outgoing:
        return Outgoing(kind="text", payload={"text": f"alert {notice.patient_label}"}, chat_id=chat_id,
                        escalation_id=notice.escalation_id)

    def coach_message(self, kind: Literal["greeting", "help", "unknown"], name: str) -> Outgoing:
        return Outgoing(kind="text", payload={"text": kind})

    def text(self, text: str, chat_id: int | None = None) -> list[Outgoing]:
        return [Outgoing(kind="text", payload={"text": text}, chat_id=chat_id)]

    def my_data(self, export: dict[str, Any]) -> list[Outgoing]:
        return []


TIMING = Timing(quiet=QuietHours(dt.time(21), dt.time(8)), grace=dt.timedelta(hours=2),
                reminder_delay=dt.timedelta(hours=3), late_after=dt.timedelta(minutes=1))


@dataclass
class Sent:
    chat_id: int
    text: str
    lane: int
    at: dt.datetime


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    service: PatientService = field(init=False)
    channel: PlainChannel = field(default_factory=PlainChannel)
    sent: list[Sent] = field(default_factory=list)
    schedulers: list[CheckinScheduler] = field(default_factory=list)
    _next_chat: int = 1000

    def __post_init__(self) -> None:
        self.service = PatientService(self.sessions, Engine(library()), self.clock, channel=self.channel)

    def scheduler(self, name: str = "A", **config: Any) -> CheckinScheduler:
        """A scheduler "process" named `name`; several may share the database."""
        values: dict[str, Any] = {"timing": TIMING, "tick_seconds": 10.0,
                                  "claim_timeout": dt.timedelta(seconds=60), "batch": 200,
                                  "start_rate": None}
        values.update(config)
        scheduler = CheckinScheduler(self.sessions, self.service, self.channel, SchedulerConfig(**values),
                                     clock=self.clock, instance=name)
        self.schedulers.append(scheduler)
        return scheduler

    async def add_patient(self, timezone: str = "Europe/London", at: dt.time = dt.time(8), *,
                          weekly_day: int = 2, status: str = "active", name: str = "Alex") -> Patient:
        """An onboarded patient (in care since a week ago) with their schedule computed."""
        self._next_chat += 1
        now = self.clock()
        async with self.sessions() as session, session.begin():
            patient = Patient(label=f"P-T{self._next_chat:05d}", chat_id=self._next_chat, name=name,
                              timezone=timezone, checkin_time=at, weekly_review_day=weekly_day,
                              status=status, consent_at=now, onboarded_at=now - dt.timedelta(days=7),
                              created_at=now, updated_at=now)
            session.add(patient)
            await session.flush()
            await schedule_store.reschedule(session, patient, now)
        return patient

    async def tick(self, *schedulers: CheckinScheduler) -> list[TickReport]:
        """One tick of each scheduler at the same instant (concurrently, like separate processes)."""
        return list(await asyncio.gather(*(s.tick() for s in schedulers or self.schedulers)))

    async def deliver(self, limit: int | None = None) -> list[Sent]:
        """The outbox sender: every row still to send (or the first `limit`) goes out now, in order."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(select(OutboxMessage).where(
                OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None),
                OutboxMessage.not_before <= now).order_by(OutboxMessage.id).limit(limit))).scalars().all()
            out = []
            for row in rows:
                row.sent_at = now
                out.append(Sent(row.chat_id, str(row.payload.get("text", "")), row.lane, now))
        self.sent.extend(out)
        return out

    async def run_until(self, end: dt.datetime, step: dt.timedelta | None = None, *,
                        deliver: bool = True) -> None:
        """Move the clock to `end`, ticking every scheduler (and the sender) on the way.

        With no `step`, the clock jumps from one moment something is due (a check-in, a reminder) to
        the next, landing `TICK_DELAY` after it as a real interval tick would; with a `step`, it
        also ticks at every step.
        """
        while self.clock() < end:
            target = end
            if step is not None:
                target = min(target, self.clock() + step)
            upcoming = await self.next_due()
            if upcoming is not None:
                target = min(target, max(upcoming + TICK_DELAY, self.clock() + dt.timedelta(seconds=1)))
            self.clock.now = target
            await self.tick()
            if deliver:
                await self.deliver()
                await self.tick()  # sees what was delivered (sent, reminders due)

    async def next_due(self) -> dt.datetime | None:
        """The next instant at which a scheduler has something to do."""
        async with self.sessions() as session:
            due = (await session.execute(select(func.min(Schedule.next_due_at)).where(
                Schedule.next_due_at > self.clock()))).scalar_one_or_none()
            remind = (await session.execute(select(func.min(CheckinRun.reminder_at)).where(
                CheckinRun.reminder_at > self.clock()))).scalar_one_or_none()
        times = [t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in (due, remind) if t is not None]
        return min(times, default=None)

    async def unsent(self) -> int:
        async with self.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)))).scalar_one())

    async def runs(self, patient_id: int | None = None) -> list[CheckinRun]:
        async with self.sessions() as session:
            query = select(CheckinRun).order_by(CheckinRun.due_at, CheckinRun.id)
            if patient_id is not None:
                query = query.where(CheckinRun.patient_id == patient_id)
            return list((await session.execute(query)).scalars())

    async def schedule(self, patient_id: int, dialog: str = "daily") -> Schedule | None:
        async with self.sessions() as session:
            return await session.get(Schedule, (patient_id, dialog))

    async def patient(self, patient_id: int) -> Patient:
        async with self.sessions() as session:
            patient = await session.get(Patient, patient_id)
            assert patient is not None
            return patient

    def texts(self, chat_id: int) -> list[str]:
        return [s.text for s in self.sent if s.chat_id == chat_id]

    def checkins_sent(self, chat_id: int) -> list[Sent]:
        """Scheduled check-ins (daily or weekly) that reached the chat; reminders not counted."""
        return [s for s in self.sent if s.chat_id == chat_id and s.lane == 1
                and not s.text.startswith(REMINDER_START)]

    def reminders_sent(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id and s.text.startswith(REMINDER_START)]
