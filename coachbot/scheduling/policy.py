"""What to do with a check-in that has fallen due, and when its one reminder may go out.

Every rule that decides whether a patient hears from us unprompted lives here, as pure functions of
plain values, so each can be tested at any hour of any day without a database or a wait:

- stopped, paused, not yet onboarded, or unreachable (they blocked the bot): nothing is sent;
- due longer ago than the grace window (the bot was down): recorded missed, never sent late;
- sent late into quiet hours when the chosen time is outside them: recorded missed (a check-in
  meant for 20:30 does not arrive at 21:40); the check-in at the chosen time is always honoured,
  even inside quiet hours, because the patient chose it;
- one reminder after the delay, held back out of quiet hours, and dropped if holding it would carry
  it past the check-in's own local day or into the next check-in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from coachbot.scheduling.local_time import QuietHours, local_date_of, zone_of
from coachbot.scheduling.occurrences import Occurrence, Profile

Action = Literal["send", "missed", "skipped"]


@dataclass(frozen=True, slots=True)
class Timing:
    """The scheduling settings the rules depend on (from `coachbot.config.Settings`)."""

    quiet: QuietHours = field(default_factory=QuietHours)
    grace: dt.timedelta = dt.timedelta(hours=2)
    reminder_delay: dt.timedelta = dt.timedelta(hours=3)
    #: Up to this much after its due time a check-in counts as on time (tick interval, queue).
    late_after: dt.timedelta = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StartDecision:
    """The verdict on a due occurrence; `reason` is a label for logs and the runs table."""

    action: Action
    reason: str | None = None
    late_by: dt.timedelta = dt.timedelta()

    @property
    def late(self) -> bool:
        return self.reason == "late"


def decide_start(occurrence: Occurrence, profile: Profile, now: dt.datetime, timing: Timing, *,
                 noticed_at: dt.datetime | None = None) -> StartDecision:
    """Send, record as missed, or skip the occurrence that is due at `now` (rules in the module doc).

    Lateness is counted to `noticed_at`, the moment a running scheduler could first see it due
    (default `now`): a check-in held back only by Telegram's pace behind thousands of others is still
    the check-in at the chosen time, while one that fell due when no scheduler ran is late.
    """
    late_by = max((noticed_at or now) - occurrence.due_at, dt.timedelta())
    if profile.status == "stopped":
        return StartDecision("skipped", "stopped", late_by)
    if profile.is_paused(now):
        return StartDecision("skipped", "paused", late_by)
    if not profile.onboarded or profile.status == "new" or profile.checkin_time is None:
        return StartDecision("skipped", "not_onboarded", late_by)
    if profile.unreachable:
        return StartDecision("skipped", "unreachable", late_by)
    if late_by > timing.grace:
        return StartDecision("missed", "grace_expired", late_by)
    if late_by > timing.late_after:
        zone = zone_of(profile.timezone)
        if timing.quiet.is_quiet(noticed_at or now, zone) and not timing.quiet.contains(profile.checkin_time):
            return StartDecision("missed", "quiet_hours", late_by)
        return StartDecision("send", "late", late_by)
    return StartDecision("send", None, late_by)


def reminder_at(occurrence: Occurrence, sent_at: dt.datetime, timezone: str, timing: Timing,
                next_due_at: dt.datetime | None) -> dt.datetime | None:
    """When the one reminder for an unanswered check-in may go out, or None if it never should."""
    zone = zone_of(timezone)
    at = timing.quiet.ends_after(sent_at + timing.reminder_delay, zone)
    if local_date_of(at, zone) != occurrence.local_date:
        return None
    if next_due_at is not None and at >= next_due_at:
        return None
    return at


def run_key(patient_id: int, dialog: str, local_date: dt.date) -> str:
    """The idempotency key as one string, for logs (the database enforces it as a unique triple)."""
    return f"{patient_id}:{dialog}:{local_date.isoformat()}"
