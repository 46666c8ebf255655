"""Wall-clock check-in times made exact across daylight-saving changes, in three hemispheres' rules."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachbot.scheduling import QuietHours, resolve_local

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "day", "at", "expected"), [
    # London springs forward at 01:00 GMT on 29 March 2026: 01:00-01:59 never happens.
    (LONDON, dt.date(2026, 3, 29), dt.time(1, 30), utc(2026, 3, 29, 1, 0)),   # -> 02:00 BST
    (LONDON, dt.date(2026, 3, 29), dt.time(1, 0), utc(2026, 3, 29, 1, 0)),
    (LONDON, dt.date(2026, 3, 29), dt.time(2, 0), utc(2026, 3, 29, 1, 0)),    # exists: 02:00 BST
    (LONDON, dt.date(2026, 3, 29), dt.time(8, 0), utc(2026, 3, 29, 7, 0)),
    # New York springs forward at 02:00 EST on 8 March 2026.
    (NEW_YORK, dt.date(2026, 3, 8), dt.time(2, 30), utc(2026, 3, 8, 7, 0)),   # -> 03:00 EDT
    (NEW_YORK, dt.date(2026, 3, 8), dt.time(9, 0), utc(2026, 3, 8, 13, 0)),
    # Sydney springs forward at 02:00 AEST on 4 October 2026 (the date before in UTC).
    (SYDNEY, dt.date(2026, 10, 4), dt.time(2, 15), utc(2026, 10, 3, 16, 0)),  # -> 03:00 AEDT
])
def test_a_time_that_does_not_exist_moves_to_the_moment_the_clocks_jump(
        zone: ZoneInfo, day: dt.date, at: dt.time, expected: dt.datetime) -> None:
    assert resolve_local(day, at, zone) == expected


@pytest.mark.parametrize(("zone", "day", "at", "first"), [
    # London falls back at 02:00 BST on 25 October 2026: 01:00-01:59 happens twice.
    (LONDON, dt.date(2026, 10, 25), dt.time(1, 30), utc(2026, 10, 25, 0, 30)),  # BST, not GMT 01:30
    (NEW_YORK, dt.date(2026, 11, 1), dt.time(1, 30), utc(2026, 11, 1, 5, 30)),  # EDT, not EST 06:30
    (SYDNEY, dt.date(2026, 4, 5), dt.time(2, 30), utc(2026, 4, 4, 15, 30)),     # AEDT, not AEST 16:30
])
def test_a_time_that_exists_twice_means_its_first_occurrence(
        zone: ZoneInfo, day: dt.date, at: dt.time, first: dt.datetime) -> None:
    assert resolve_local(day, at, zone) == first


ZONES = [LONDON, NEW_YORK, SYDNEY, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("America/Santiago"),
         ZoneInfo("Asia/Kolkata"), ZoneInfo("Pacific/Chatham")]


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES), day=st.dates(dt.date(2025, 1, 1), dt.date(2028, 12, 31)),
       at=st.times().map(lambda t: t.replace(microsecond=0)))
def test_the_instant_is_the_first_at_which_the_wall_clock_reaches_the_chosen_time(
        zone: ZoneInfo, day: dt.date, at: dt.time) -> None:
    instant = resolve_local(day, at, zone)
    wall = instant.astimezone(zone).replace(tzinfo=None)
    wanted = dt.datetime.combine(day, at)
    assert wall >= wanted, "never before the chosen time"
    before = (instant - dt.timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None)
    assert before < wanted or wall == wanted, "the first instant showing it (or the jump over it)"
    if wall != wanted:  # only in a gap, and then exactly at the moment the clocks jumped
        just_before = (instant - dt.timedelta(seconds=1)).astimezone(zone).utcoffset()
        assert instant.astimezone(zone).utcoffset() != just_before


def test_quiet_hours_wrap_midnight_and_end_at_the_local_morning() -> None:
    quiet = QuietHours(dt.time(21), dt.time(8))
    assert quiet.contains(dt.time(21)) and quiet.contains(dt.time(23, 59)) and quiet.contains(dt.time(7, 59))
    assert not quiet.contains(dt.time(8)) and not quiet.contains(dt.time(20, 59))
    # 22:00 BST on the night the clocks go back: quiet ends at 08:00 GMT, 10 hours later + 1.
    assert quiet.ends_after(utc(2026, 10, 24, 21, 0), LONDON) == utc(2026, 10, 25, 8, 0)
    assert quiet.ends_after(utc(2026, 10, 24, 12, 0), LONDON) == utc(2026, 10, 24, 12, 0)
    assert not QuietHours(dt.time(8), dt.time(8)).contains(dt.time(3))
    assert QuietHours(dt.time(13), dt.time(14)).contains(dt.time(13, 30))
