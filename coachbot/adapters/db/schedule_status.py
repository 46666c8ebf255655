"""What `coachbot schedule status` reports: the check-ins of one local date, counted by state.

Read-only and cheap (four grouped queries), so an operator can run it at any time against a live
database. Reasons are labels ("grace_expired", "paused"); no name or message text is ever printed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import CheckinRun, Measurement, Schedule


@dataclass(frozen=True, slots=True)
class DayCounts:
    """Check-ins of one local date, by state; `reasons` counts (status, reason) of the closed ones."""

    day: dt.date
    due_now: int
    later: int
    by_status: dict[str, int]
    reasons: dict[tuple[str, str], int]

    def report(self, now: dt.datetime) -> str:
        """For an operator: one line per state; reasons are labels, never names or text."""
        status = self.by_status
        rows = [
            ("due", self.due_now + status.get("claimed", 0), "fell due, not yet in the outbox"),
            ("queued", status.get("queued", 0), "in the outbox, waiting for Telegram's pace"),
            ("sent", status.get("sent", 0) + status.get("answered", 0), "delivered"),
            ("answered", status.get("answered", 0), "of those, answered"),
            ("late", sum(n for (kind, reason), n in self.reasons.items() if reason == "late"),
             "queued after their time (the logs say why)"),
            ("missed", status.get("missed", 0), self._reasons("missed")),
            ("skipped", status.get("skipped", 0), self._reasons("skipped")),
            ("later", self.later, "still to come on this date"),
        ]
        lines = [f"check-ins for the patients' local date {self.day.isoformat()} "
                 f"(at {now:%Y-%m-%d %H:%M} UTC)"]
        lines += [f"  {name:<9} {value:>7}  {note}".rstrip() for name, value, note in rows]
        return "\n".join(lines)

    def _reasons(self, status: str) -> str:
        return ", ".join(f"{reason} {n}" for (kind, reason), n in sorted(self.reasons.items())
                         if kind == status)


async def day_counts(session: AsyncSession, day: dt.date, now: dt.datetime) -> DayCounts:
    """What `coachbot schedule status` prints: read-only, four small queries."""
    by_status: dict[str, int] = {}
    reasons: dict[tuple[str, str], int] = {}
    result = await session.execute(select(CheckinRun.status, CheckinRun.reason, func.count())
                                   .where(CheckinRun.local_date == day)
                                   .group_by(CheckinRun.status, CheckinRun.reason))
    for status, reason, count in result.all():
        by_status[status] = by_status.get(status, 0) + count
        if reason:
            reasons[(status, reason)] = count
    # Runs are closed as answered lazily (at the next check-in or the reminder); count them now.
    answered_since = exists().where(Measurement.patient_id == CheckinRun.patient_id,
                                    Measurement.recorded_at >= CheckinRun.queued_at)
    answered = (await session.execute(select(func.count()).select_from(CheckinRun).where(
        CheckinRun.local_date == day, CheckinRun.status == "sent", answered_since))).scalar_one()
    if answered:
        by_status["sent"] -= answered
        by_status["answered"] = by_status.get("answered", 0) + answered
    due_now = (await session.execute(select(func.count()).select_from(Schedule).where(
        Schedule.next_due_at <= now))).scalar_one()
    later = (await session.execute(select(func.count()).select_from(Schedule).where(
        Schedule.local_date == day, Schedule.next_due_at > now))).scalar_one()
    return DayCounts(day, int(due_now), int(later), by_status, reasons)
