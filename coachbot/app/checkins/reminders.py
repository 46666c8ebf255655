"""After a check-in leaves: noticing it was delivered, and its one reminder if it goes unanswered.

Part of the scheduler tick (`coachbot/adapters/scheduler.py`), kept apart because it is a different
moment of a run's life. "Sent" is taken from the outbox, not assumed: a run becomes sent when the
outbox row of its first message has been delivered, and the reminder is timed from that instant.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from coachbot.app import outbox
from coachbot.app.channel import LANE_BULK, Channel, QueuedMessage
from coachbot.app.failures import described
from coachbot.app.unit_of_work import CheckinRunRecord, PatientRecord, UnitOfWorkFactory
from coachbot.engine import Reply
from coachbot.scheduling import Occurrence, Profile, Timing, reminder_at, zone_of

log = logging.getLogger("coachbot.scheduler")

Clock = Callable[[], dt.datetime]
OnQueued = Callable[[list[QueuedMessage]], None]


@dataclass(slots=True)
class TickReport:
    """What one tick did, in counts (for logs and tests); `reasons` counts the labels of skips/misses."""

    claimed: int = 0
    reclaimed: int = 0
    queued: int = 0
    late: int = 0
    missed: int = 0
    skipped: int = 0
    duplicates: int = 0
    delivered: int = 0
    reminders: int = 0
    rescheduled: int = 0
    #: Started on time but behind a backlog (thousands due at once), and the longest such wait.
    behind: int = 0
    behind_by: dt.timedelta = dt.timedelta()
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, decision: str, reason: str | None) -> None:
        if decision == "missed":
            self.missed += 1
        elif decision == "skipped":
            self.skipped += 1
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1


def ago(delta: dt.timedelta) -> str:
    """A duration for logs: "45s", "1h30m"."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def occurrence_of(run: CheckinRunRecord) -> Occurrence:
    """A run as the scheduling rules see it."""
    return Occurrence("weekly" if run.dialog == "weekly" else "daily", run.local_date, run.due_at)


def profile_of(patient: PatientRecord) -> Profile:
    """A patient as the scheduling rules see them."""
    return Profile(timezone=patient.timezone, checkin_time=patient.checkin_time,
                   weekly_day=patient.weekly_review_day, status=patient.status,
                   paused_until=patient.paused_until, onboarded=patient.onboarded_at is not None,
                   unreachable=patient.unreachable)


class Reminders:
    def __init__(self, uows: UnitOfWorkFactory, channel: Channel, timing: Timing,
                 text: str, scripts: Mapping[str, str], *, clock: Clock, on_queued: OnQueued) -> None:
        self.uows, self.channel, self.timing, self.text = uows, channel, timing, text
        self.scripts, self.clock, self.on_queued = scripts, clock, on_queued

    async def mark_delivered(self, report: TickReport) -> None:
        """Queued runs whose first message went out become sent, and get their reminder time."""
        now = self.clock()
        async with self.uows() as uow:
            for run, sent_at, timezone, next_due in await uow.checkins.delivered(10_000):
                if sent_at is None:  # the outbox gave up (blocked, refused): nothing to wait for
                    run.status, run.reason, run.closed_at = "skipped", "undeliverable", now
                    continue
                run.status, run.sent_at = "sent", sent_at
                run.reminder_at = reminder_at(occurrence_of(run), sent_at, timezone, self.timing, next_due)
                report.delivered += 1
            await uow.commit()

    async def send_due(self, report: TickReport, limit: int, batch: int = 20) -> None:
        """The reminders whose time has come, a batch a transaction (one by one if a batch fails)."""
        async with self.uows() as uow:
            due = await uow.checkins.reminders_due(self.clock(), limit)
        for first in range(0, len(due), batch):
            chunk = due[first:first + batch]
            try:
                await self._remind(chunk, report)
            except Exception as exc:
                if len(chunk) == 1:
                    log.error("could not decide the reminder of check-in run %s: %s", chunk[0][0],
                              described(exc))
                    continue
                log.warning("reminding %d patients together failed (%s); one by one", len(chunk),
                            type(exc).__name__)
                for one in chunk:
                    await self.send_due_from([one], report)

    async def send_due_from(self, due: Sequence[tuple[int, int]], report: TickReport) -> None:
        try:
            await self._remind(due, report)
        except Exception as exc:
            log.error("could not decide the reminder of check-in run(s) %s: %s", [run for run, _ in due],
                      described(exc))

    async def _remind(self, due: Sequence[tuple[int, int]], report: TickReport) -> None:
        """Each run's one reminder: taken by compare-and-set, so it is decided once, sent at most once."""
        now = self.clock()
        queued: list[QueuedMessage] = []
        async with self.uows() as uow:
            await uow.patients.lock([patient_id for _, patient_id in due])
            pairs = await uow.checkins.take_reminders([run_id for run_id, _ in due])
            answered = await uow.checkins.answered([run for run, _ in pairs], self.scripts)
            current = await uow.conversations.current([patient.id for _, patient in pairs])
            sent: list[tuple[CheckinRunRecord, PatientRecord, list[QueuedMessage]]] = []
            for run, patient in pairs:
                if run.id in answered:
                    run.status, run.closed_at = "answered", now
                    continue
                profile = profile_of(patient)
                quiet = self.timing.quiet.is_quiet(now, zone_of(patient.timezone))
                if (profile.is_paused(now) or profile.status == "stopped" or profile.unreachable or quiet
                        or patient.chat_id is None or patient.id not in current
                        or current[patient.id].script != self.scripts[run.dialog]):
                    continue  # nothing to remind of, or not now: the one chance is spent
                outgoing = [replace(item, lane=LANE_BULK)
                            for item in self.channel.replies([Reply(self.text)], None)]
                sent.append((run, patient, await outbox.queue(uow, outgoing, chat_id=patient.chat_id,
                                                              patient_id=patient.id, label=patient.label,
                                                              now=now)))
                run.reminder_sent_at = now
            await uow.commit()
        for run, patient, rows in sent:
            report.reminders += 1
            log.info("reminder queued for %s %s %s", patient.label, run.dialog, run.local_date)
            queued += rows
        if queued:
            self.on_queued(queued)
