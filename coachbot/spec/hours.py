"""`working_hours:` in dialogs/escalation.yaml: its shape, its checks, and the hours it compiles to.

The hours are data, never constants: a clinical safety officer sets when coaches work, and the soon and
routine tiers count their deadlines in that working time (`coachbot.care.working_hours` does the
arithmetic). A mistake here would move every deadline, so each is said with the key it concerns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from coachbot.spec.strict import StrictModel

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as the file writes them, in `date.weekday()` order."""

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Issue = tuple[Sequence[str | int], str, str]
"""A problem found in the data: where (relative to the checked node), what is wrong, and the fix."""


class HoursSpec(StrictModel):
    """`working_hours:` as the file writes it."""

    timezone: str
    days: tuple[Weekday, ...]
    start: str = Field(description="HH:MM, 24-hour clock")
    end: str = Field(description="HH:MM, 24-hour clock, after start")
    closed_dates: tuple[date, ...] = Field(default=(), description="bank holidays, as YYYY-MM-DD")


class Duration(StrictModel):
    """Exactly one of: clock minutes (day or night), working hours, or working days (each the
    length of one working window, so 1 working day from Friday 16:30 is Monday 16:30)."""

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
