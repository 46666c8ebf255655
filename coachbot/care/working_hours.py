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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as the file writes them, in `date.weekday()` order."""

_MAX_DAYS_AHEAD = 3 * 366
"""A search for working time gives up after this many days (only possible if every day is closed)."""
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Issue = tuple[Sequence[str | int], str, str]
"""A problem found in the data: where (relative to the checked node), what is wrong, and the fix."""


class HoursSpec(BaseModel):
    """`working_hours:` as the file writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: str
    days: tuple[Weekday, ...]
    start: str = Field(description="HH:MM, 24-hour clock")
    end: str = Field(description="HH:MM, 24-hour clock, after start")
    closed_dates: tuple[date, ...] = Field(default=(), description="bank holidays, as YYYY-MM-DD")


class Duration(BaseModel):
    """Exactly one of: clock minutes (day or night), working hours, or working days (each the
    length of one working window, so 1 working day from Friday 16:30 is Monday 16:30)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    minutes: float | None = None
    working_hours: float | None = None
    working_days: float | None = None


@dataclass(frozen=True)
class WorkingHours:
    """One daily window (the same on every working day) in one zone, minus closed dates."""

    zone: tzinfo
    days: frozenset[int]
    """Working weekdays, 0 = Monday."""
    start: time
    end: time
    closed: frozenset[date] = frozenset()
    """Bank holidays and other dates with nobody at work, as local dates."""

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError("working days must be a non-empty set of weekdays 0-6")
        if self.end <= self.start:
            raise ValueError("working hours must end after they start, on the same day")

    @property
    def day_length(self) -> timedelta:
        """The working time in one working day: what `working_days: 1` means."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of a local date as UTC instants, or None when nobody works that day."""
        if day.weekday() not in self.days or day in self.closed:
            return None
        opens = datetime.combine(day, self.start, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=self.zone).astimezone(UTC)
        return opens, closes


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


def compile_hours(spec: HoursSpec) -> WorkingHours:
    """The checked spec (see `hours_issues`) as the WorkingHours the arithmetic uses."""
    return WorkingHours(ZoneInfo(spec.timezone), frozenset(WEEKDAYS.index(d) for d in spec.days),
                        _clock(spec.start) or time(), _clock(spec.end) or time(),
                        frozenset(spec.closed_dates))


def hours_issues(spec: HoursSpec) -> Iterator[Issue]:
    """What would make the hours unusable: an unknown zone, a time that is not HH:MM, an end
    before the start, no days or a day twice."""
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        yield ("timezone",), f"'{spec.timezone}' is not a time zone.", \
            "use a name from the tz database, such as Europe/London."
    start, end = _clock(spec.start), _clock(spec.end)
    for key, value, parsed in (("start", spec.start, start), ("end", spec.end, end)):
        if parsed is None:
            yield (key,), f"'{value}' is not a time of day.", \
                'write it as HH:MM on the 24-hour clock, in quotes, such as "09:00".'
    if start is not None and end is not None and end <= start:
        yield ("end",), "working hours end before they start.", \
            "give an end time later on the same day than the start time."
    if not spec.days or len(set(spec.days)) != len(spec.days):
        yield ("days",), "days must list each working day once.", \
            "write the days coaches work, such as [mon, tue, wed, thu, fri]."


def duration_issues(duration: Duration) -> Iterator[Issue]:
    given = [(k, v) for k, v in duration.model_dump().items() if v is not None]
    if len(given) != 1:
        yield (), "a duration has exactly one of minutes, working_hours or working_days.", \
            "write one, such as {minutes: 60} or {working_days: 1}."
    for key, value in given:
        if value <= 0:
            yield (key,), f"{key} must be more than 0, not {value:g}.", "give a positive number."


def _clock(text: str) -> time | None:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return time(hour, minute) if len(text) == 5 else None
    except ValueError:
        return None
