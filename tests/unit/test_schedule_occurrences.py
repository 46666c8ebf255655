"""One check-in per local day at the chosen time, the weekly review on its weekday, pauses and stops."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachbot.scheduling import Occurrence, Profile, following, next_occurrence, occurrence_on

UTC = dt.UTC
GRACE = dt.timedelta(hours=2)
SUNDAY = 6


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def profile(zone: str = "Europe/London", at: dt.time = dt.time(8), **changes: object) -> Profile:
    """A patient whose weekly review is on Wednesdays unless told otherwise (the clocks change on
    Sundays, where a Sunday review would take the daily check-in's place)."""
    return replace(Profile(timezone=zone, checkin_time=at, weekly_day=2), **changes)


def series(p: Profile, dialog: str, start: dt.datetime, count: int) -> list[Occurrence]:
    """Occurrences one after another, as the tick claims them."""
    found: list[Occurrence] = []
    occurrence = next_occurrence(p, dialog, start)  # type: ignore[arg-type]
    while occurrence is not None and len(found) < count:
        found.append(occurrence)
        occurrence = following(p, occurrence, occurrence.due_at, GRACE)
    return found


@pytest.mark.parametrize(("zone", "at", "spring", "autumn"), [
    ("Europe/London", dt.time(1, 30), dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
    ("America/New_York", dt.time(1, 30), dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
    ("America/New_York", dt.time(2, 30), dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
    ("Australia/Sydney", dt.time(2, 30), dt.date(2026, 10, 4), dt.date(2026, 4, 5)),
])
@pytest.mark.parametrize("review_day", [SUNDAY, 2])
def test_each_local_day_gets_one_check_in_across_both_clock_changes(
        zone: str, at: dt.time, spring: dt.date, autumn: dt.date, review_day: int) -> None:
    # The changes fall on Sundays: with the review on Sunday, the weekly review crosses them.
    p = profile(zone, at, weekly_day=review_day)
    for change in (spring, autumn):
        start = dt.datetime.combine(change - dt.timedelta(days=3), dt.time(12), tzinfo=ZoneInfo(zone))
        found = sorted(series(p, "daily", start, 6) + series(p, "weekly", start, 1), key=lambda o: o.due_at)
        days = [o.local_date for o in found]
        assert days == [change - dt.timedelta(days=2) + dt.timedelta(days=i) for i in range(7)]
        for o in found:
            wall = o.due_at.astimezone(ZoneInfo(zone))
            assert wall.date() == o.local_date
            assert wall.time() == at or o.local_date == change, "only the change day may move"


def test_the_spring_forward_check_in_at_01_30_in_london_goes_at_02_00_bst() -> None:
    o = next_occurrence(profile(at=dt.time(1, 30)), "daily", utc(2026, 3, 28, 12))
    assert o == Occurrence("daily", dt.date(2026, 3, 29), utc(2026, 3, 29, 1, 0))


def test_the_fall_back_check_in_at_01_30_goes_once_at_the_first_01_30() -> None:
    p = profile(at=dt.time(1, 30))
    first = next_occurrence(p, "daily", utc(2026, 10, 24, 12))
    assert first == Occurrence("daily", dt.date(2026, 10, 25), utc(2026, 10, 25, 0, 30))
    # An hour later the wall clock shows 01:30 again (GMT): it is the next day's turn, not this one.
    assert following(p, first, utc(2026, 10, 25, 1, 30), GRACE).local_date == dt.date(2026, 10, 26)
    assert next_occurrence(p, "daily", utc(2026, 10, 25, 1, 30), after_date=first.local_date).due_at == utc(
        2026, 10, 26, 1, 30)


def test_the_weekly_review_takes_the_check_in_slot_on_its_weekday() -> None:
    p = profile(weekly_day=2)  # Wednesday
    week = series(p, "daily", utc(2026, 6, 1, 0), 6)  # Monday 1 June
    assert dt.date(2026, 6, 3) not in [o.local_date for o in week]
    review = next_occurrence(p, "weekly", utc(2026, 6, 1, 0))
    assert review == Occurrence("weekly", dt.date(2026, 6, 3), utc(2026, 6, 3, 7, 0))
    assert following(p, review, review.due_at, GRACE).local_date == dt.date(2026, 6, 10)
    assert occurrence_on(p, "weekly", dt.date(2026, 6, 4)) is None


def test_no_check_ins_while_stopped_paused_until_resumed_or_before_onboarding() -> None:
    now = utc(2026, 6, 1, 12)
    assert next_occurrence(profile(status="stopped"), "daily", now) is None
    assert next_occurrence(profile(status="paused"), "daily", now) is None
    assert next_occurrence(profile(onboarded=False, status="new"), "daily", now) is None
    assert next_occurrence(profile(checkin_time=None), "daily", now) is None
    paused = profile(status="paused", paused_until=utc(2026, 6, 4, 9))
    assert next_occurrence(paused, "daily", now).local_date == dt.date(2026, 6, 5)
    assert next_occurrence(replace(paused, paused_until=utc(2026, 6, 4, 6)), "daily", now).local_date == (
        dt.date(2026, 6, 4))


def test_a_new_time_takes_effect_from_the_next_occurrence_never_twice_a_day() -> None:
    served = dt.date(2026, 6, 1)  # 08:00 went out this morning
    later_today = profile(at=dt.time(20))
    assert next_occurrence(later_today, "daily", utc(2026, 6, 1, 9), after_date=served).local_date == (
        dt.date(2026, 6, 2))
    not_yet_served = next_occurrence(later_today, "daily", utc(2026, 6, 1, 9))
    assert not_yet_served.due_at == utc(2026, 6, 1, 19)
    # Moving from London to Sydney at 09:00 UTC (19:00 there): Sydney's 1 June already passed.
    sydney = next_occurrence(profile("Australia/Sydney"), "daily", utc(2026, 6, 1, 9), after_date=served)
    assert sydney.local_date == dt.date(2026, 6, 2)


def test_after_a_long_outage_the_days_past_the_grace_window_are_not_replayed() -> None:
    p = profile()
    stale = Occurrence("daily", dt.date(2026, 6, 1), utc(2026, 6, 1, 7))
    now = utc(2026, 6, 5, 8)  # four days later, an hour after that day's check-in
    nxt = following(p, stale, now, GRACE)
    assert nxt == Occurrence("daily", dt.date(2026, 6, 5), utc(2026, 6, 5, 7))


ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago"]


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), start=st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2028, 1, 1),
                                                      timezones=st.just(UTC)),
       at=st.times().map(lambda t: t.replace(second=0, microsecond=0)), weekly_day=st.integers(0, 6))
def test_over_any_forty_days_every_local_date_is_served_once_by_exactly_one_dialog(
        zone: str, start: dt.datetime, at: dt.time, weekly_day: int) -> None:
    p = profile(zone, at, weekly_day=weekly_day)
    daily = series(p, "daily", start, 35)
    weekly = series(p, "weekly", start, 6)
    days = sorted([o.local_date for o in daily] + [o.local_date for o in weekly])
    assert len(days) == len(set(days)), "no local date twice"
    end = min(daily[-1].local_date, weekly[-1].local_date)
    span = [d for d in days if d <= end]
    assert span == [span[0] + dt.timedelta(days=i) for i in range(len(span))], "no local date skipped"
    assert all(o.due_at >= start for o in daily + weekly)
