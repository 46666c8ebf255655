"""When each patient's next daily check-in and weekly review fall due.

A patient has one check-in a local day, at the time they chose, except on their weekly-review day,
when the weekly review goes out at that time instead (two dialogs started at the same minute would
cut each other off, and the review asks about pain and mood itself). Each occurrence is named by
its dialog and local date: that pair, with the patient, is the idempotency key of the run, so a
day is never served twice whatever the clock, the timezone or the number of bot processes.

Pure: the caller passes `now` and the patient's settings as plain values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from coachbot.scheduling.local_time import local_date_of, resolve_local, zone_of

Dialog = Literal["daily", "weekly"]
DIALOGS: tuple[Dialog, ...] = ("daily", "weekly")

_SEARCH_DAYS = 9
"""Enough local days to always contain one daily and one weekly occurrence."""


@dataclass(frozen=True, slots=True)
class Profile:
    """The settings that decide a patient's schedule, copied off their row."""

    timezone: str
    checkin_time: dt.time | None
    weekly_day: int = 6  # 0 = Monday ... 6 = Sunday
    status: str = "active"  # "new" | "active" | "paused" | "stopped"
    paused_until: dt.datetime | None = None
    onboarded: bool = True
    unreachable: bool = False

    def resumes_at(self, now: dt.datetime) -> dt.datetime | None:
        """From when check-ins may run: `now`, the end of a pause, or None (no check-ins at all)."""
        if not self.onboarded or self.checkin_time is None or self.status in ("new", "stopped"):
            return None
        if self.status == "paused":
            if self.paused_until is None:
                return None
            return max(now, self.paused_until)
        return now

    def is_paused(self, now: dt.datetime) -> bool:
        return self.status == "paused" and (self.paused_until is None or self.paused_until > now)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One check-in to run: which dialog, for which local date, at which instant (UTC)."""

    dialog: Dialog
    local_date: dt.date
    due_at: dt.datetime


def runs_on(dialog: Dialog, day: dt.date, weekly_day: int) -> bool:
    """Whether `dialog` has an occurrence on local date `day`."""
    is_review_day = day.weekday() == weekly_day % 7
    return is_review_day if dialog == "weekly" else not is_review_day


def occurrence_on(profile: Profile, dialog: Dialog, day: dt.date) -> Occurrence | None:
    """The occurrence of `dialog` on local date `day`, or None if it has none that day."""
    if profile.checkin_time is None or not runs_on(dialog, day, profile.weekly_day):
        return None
    return Occurrence(dialog, day, resolve_local(day, profile.checkin_time, zone_of(profile.timezone)))


def next_occurrence(profile: Profile, dialog: Dialog, now: dt.datetime, *,
                    after_date: dt.date | None = None) -> Occurrence | None:
    """The first occurrence at or after `now` (or the end of a pause), on a local date later than
    `after_date` (the last run's date), or None when the patient gets no check-ins.

    "At or after": a schedule recomputed in the very second a check-in falls due still catches it.
    `after_date` is what makes a settings change take effect from the next occurrence: moving the
    time later on a day already served, or crossing timezones backwards, never serves a date twice.
    """
    start = profile.resumes_at(now)
    if start is None or profile.checkin_time is None:
        return None
    zone = zone_of(profile.timezone)
    first_day = local_date_of(start, zone) - dt.timedelta(days=1)
    if after_date is not None:
        first_day = max(first_day, after_date + dt.timedelta(days=1))
    for offset in range(_SEARCH_DAYS):
        occurrence = occurrence_on(profile, dialog, first_day + dt.timedelta(days=offset))
        if occurrence is not None and occurrence.due_at >= start:
            return occurrence
    return None  # pragma: no cover - a week always holds one of each


def following(profile: Profile, occurrence: Occurrence, now: dt.datetime,
              grace: dt.timedelta) -> Occurrence | None:
    """The occurrence after `occurrence` once it has been claimed.

    After a long outage the days in between are past the grace window and can only be missed, so
    the search starts at `now - grace`: the first overdue day is recorded as missed, the next one
    that can still be sent is the next to run, and nothing is replayed day by day.
    """
    return next_occurrence(profile, occurrence.dialog, max(occurrence.due_at, now - grace),
                           after_date=occurrence.local_date)
