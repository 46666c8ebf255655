"""Flare-ups: a jump of 2+ points starts the short check-ins and the plan; settling or 7 days ends them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from coachbot.care.flare import Flare, FlareRules, PainCheckIn, advance, has_timed_out, replay

DAY0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _checkins(*pains: float, start: datetime = DAY0) -> list[PainCheckIn]:
    return [PainCheckIn(start + timedelta(days=n), pain) for n, pain in enumerate(pains)]


def _changes(*pains: float) -> list[str]:
    checkins, changes, flare = _checkins(*pains), [], None
    for n, checkin in enumerate(checkins):
        step = advance(flare, checkins[n - 1] if n else None, checkin)
        flare = step.flare
        changes.append(step.change)
    return changes


def test_a_jump_of_two_points_from_one_checkin_to_the_next_starts_a_flare() -> None:
    step = replay(_checkins(4, 6), DAY0 + timedelta(days=1))
    assert step.change == "started" and step.short_checkins
    assert step.flare == Flare(DAY0 + timedelta(days=1), baseline=4, peak=6)


def test_a_rise_of_less_than_two_points_is_not_a_flare() -> None:
    assert _changes(4, 5, 5.5, 6) == ["none"] * 4
    assert not replay(_checkins(4, 5, 5.5, 6), DAY0 + timedelta(days=3)).short_checkins


def test_a_slow_climb_is_not_a_flare_but_a_sudden_one_after_it_is() -> None:
    assert _changes(3, 4, 5, 7) == ["none", "none", "none", "started"]


def test_the_first_checkin_never_starts_a_flare() -> None:
    assert _changes(9) == ["none"]


def test_a_flare_settles_after_two_checkins_within_one_point_of_the_level_before_it() -> None:
    assert _changes(4, 7, 6, 5, 5) == ["none", "started", "ongoing", "ongoing", "settled"]


def test_one_good_day_alone_does_not_end_a_flare() -> None:
    assert _changes(4, 7, 5, 7, 5) == ["none", "started", "ongoing", "ongoing", "ongoing"]
    flare = replay(_checkins(4, 7, 5, 7, 5), DAY0 + timedelta(days=4)).flare
    assert flare is not None and flare.settled_checkins == 1 and flare.peak == 7


def test_back_to_normal_checkins_after_seven_days_at_most() -> None:
    pains = (3, 6, 6, 7, 6, 6, 6, 6, 6)  # day 1 starts it; day 8 is the 7th day after
    assert _changes(*pains) == ["none", "started", *["ongoing"] * 6, "timed_out"]
    assert not replay(_checkins(*pains), DAY0 + timedelta(days=8)).short_checkins


def test_a_flare_times_out_even_when_the_patient_stops_checking_in() -> None:
    checkins = _checkins(3, 6)
    assert replay(checkins, DAY0 + timedelta(days=7, hours=15)).short_checkins  # 6th day after the start
    step = replay(checkins, DAY0 + timedelta(days=8))
    assert step.change == "timed_out" and step.flare is None


def test_seven_days_are_counted_in_the_patients_own_calendar_days() -> None:
    zone = ZoneInfo("America/New_York")
    started = datetime(2026, 3, 2, 20, 30, tzinfo=zone)  # 01:30 UTC the next day
    flare = Flare(started, baseline=3, peak=6)
    a_bit_earlier_a_week_later = started + timedelta(days=7, minutes=-10)
    assert has_timed_out(flare, a_bit_earlier_a_week_later, zone=zone)
    assert not has_timed_out(flare, started + timedelta(days=6, hours=3), zone=zone)


def test_a_further_jump_during_a_flare_keeps_the_original_baseline() -> None:
    flare = replay(_checkins(3, 5, 8), DAY0 + timedelta(days=2)).flare
    assert flare is not None
    assert (flare.baseline, flare.peak, flare.started_at) == (3, 8, DAY0 + timedelta(days=1))


def test_a_new_flare_can_start_after_one_has_settled() -> None:
    assert _changes(3, 6, 4, 4, 6) == ["none", "started", "ongoing", "settled", "started"]


def test_missed_days_do_not_hide_a_jump() -> None:
    checkins = [PainCheckIn(DAY0, 3), PainCheckIn(DAY0 + timedelta(days=5), 6)]
    assert replay(checkins, DAY0 + timedelta(days=5)).change == "started"


def test_rules_can_be_changed_by_the_service() -> None:
    rules = FlareRules(jump=3, settle_within=0, settle_checkins=1, max_days=3)
    assert replay(_checkins(4, 6), DAY0 + timedelta(days=1), rules).change == "none"
    assert replay(_checkins(4, 7, 4), DAY0 + timedelta(days=2), rules).change == "settled"


def test_replay_does_not_depend_on_the_order_rows_arrive_in() -> None:
    checkins = _checkins(4, 7, 6, 5)
    now = DAY0 + timedelta(days=3)
    assert replay(list(reversed(checkins)), now) == replay(checkins, now)


@given(st.lists(st.integers(0, 10), min_size=1, max_size=30))
def test_short_checkins_never_outlast_seven_days_and_always_start_with_a_jump(pains: list[int]) -> None:
    checkins, flare, started_at = _checkins(*pains), None, None
    for n, checkin in enumerate(checkins):
        step = advance(flare, checkins[n - 1] if n else None, checkin)
        if step.change == "started":
            assert n > 0 and pains[n] - pains[n - 1] >= 2
            started_at = checkin.at
        if step.flare is not None:
            assert started_at is not None and (checkin.at - started_at).days < 7
            assert step.flare.baseline <= step.flare.peak - 2
        flare = step.flare
