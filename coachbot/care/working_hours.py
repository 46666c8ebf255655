"""Coaches' working hours, and deadlines counted in working time.

A "soon" escalation opened on Friday at 16:30 cannot honestly promise contact on Friday evening:
its clock only runs while coaches work. So deadlines for the soon and routine tiers add *working
time* (only the minutes inside the working window of a working day count), while urgent ones add
plain clock time, day or night. The hours are data (`dialogs/escalation.yaml`), never constants.

All arithmetic is done on UTC instants, and results are returned in UTC, because Python adds and
subtracts aware datetimes that share a zone by wall clock, which is an hour out across a clock
change. Each day's window is built from the local date and the local start and end times, so
09:00 stays 09:00 after the change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coachbot.spec.hours import Duration, WorkingHours

__all__ = ["Duration", "WorkingHours", "add_clock_time", "add_duration", "add_working_time",
           "is_working_time"]

_MAX_DAYS_AHEAD = 3 * 366
"""A search for working time gives up after this many days (only possible if every day is closed)."""


def _check_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a naive datetime has no place on the clock; pass an aware one")
    return at.astimezone(UTC)


def is_working_time(at: datetime, hours: WorkingHours) -> bool:
    """Whether a coach is at work at `at` (the window includes its start, not its end)."""
    instant = _check_aware(at)
    window = hours.window(instant.astimezone(hours.zone).date())
    return window is not None and window[0] <= instant < window[1]


def add_working_time(start: datetime, amount: timedelta, hours: WorkingHours) -> datetime:
    """The instant (in UTC) when `amount` of working time has passed since `start`.

    Time outside the window does not count, so Friday 16:30 plus one 8-hour working day is
    Monday 16:30, and Saturday noon plus 8 hours is Monday 17:00. A deadline that falls exactly
    at the close of a day stays on that day rather than moving to the next morning. A zero
    amount gives the next moment anyone is at work (or `start` itself, during working hours).
    """
    cursor = _check_aware(start)
    if amount < timedelta(0):
        raise ValueError("working time to add must not be negative")
    remaining = amount
    day = cursor.astimezone(hours.zone).date() - timedelta(days=1)  # a window may start the day before
    for _ in range(_MAX_DAYS_AHEAD):
        window = hours.window(day)
        day += timedelta(days=1)
        if window is None or window[1] <= cursor:
            continue
        cursor = max(cursor, window[0])
        available = window[1] - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
        cursor = window[1]
    raise ValueError("no working time found in the next three years; check working_hours and closed dates")


def add_clock_time(start: datetime, amount: timedelta) -> datetime:
    """`start + amount` in real elapsed time (not wall-clock time), in UTC, whatever DST does."""
    return _check_aware(start) + amount


def add_duration(start: datetime, duration: Duration, hours: WorkingHours) -> datetime:
    """`start` plus a duration from the file, in clock or working time as the duration says."""
    if duration.minutes is not None:
        return add_clock_time(start, timedelta(minutes=duration.minutes))
    if duration.working_hours is not None:
        return add_working_time(start, timedelta(hours=duration.working_hours), hours)
    return add_working_time(start, hours.day_length * (duration.working_days or 0), hours)
