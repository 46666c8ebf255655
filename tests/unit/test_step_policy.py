"""The step policy: safety gates first, one new step a day, no repeat within a week, then learning.

The property tests check the policy against an oracle written separately here, from docs/clinical-basis.md's
global gates and each step's `exclude_when`, so a bug in the policy's own gate code cannot hide itself.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachbot.care.step_policy import (
    MAX_SWAPS_PER_DAY,
    NO_REPEAT_DAYS,
    Feedback,
    Outcome,
    PastSuggestion,
    PatientState,
    PopulationPrior,
    choose_step,
    gate_reasons,
    needs_prior,
    personal_counts,
    steps_for_now,
)
from coachbot.spec.catalogue import FLAGS
from coachbot.spec.steps import Step, StepCondition, StepLibrary, load_steps

LIBRARY = load_steps(Path(__file__).resolve().parents[2] / "dialogs" / "steps.yaml")
IDS = [s.id for s in LIBRARY.steps]
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ZONES = ["Europe/London", "UTC", "Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata"]
FEEDBACK: list[Feedback | None] = [None, "helped", "not_helped", "not_tried", "declined"]


# ------------------------------------------------------------------ the oracle

def _oracle_holds(cond: StepCondition, scores: Mapping[str, Any], flags: frozenset[str]) -> bool:
    data = cond.model_dump(by_alias=True, exclude_none=True)
    return _eval(data, scores, flags)


def _eval(data: dict[str, Any], scores: Mapping[str, Any], flags: frozenset[str]) -> bool:
    if "all" in data:
        return all(_eval(c, scores, flags) for c in data["all"])
    if "any" in data:
        return any(_eval(c, scores, flags) for c in data["any"])
    if "not" in data:
        return not _eval(data["not"], scores, flags)
    if "flag" in data:
        return data["flag"] in flags
    value = scores.get(data["measure"])
    if "known" in data:
        return (value is not None) == data["known"]
    if value is None:
        return False
    tests = {"eq": lambda v, x: v == x, "ne": lambda v, x: v != x, "gt": lambda v, x: v > x,
             "gte": lambda v, x: v >= x, "lt": lambda v, x: v < x, "lte": lambda v, x: v <= x,
             "in": lambda v, x: v in x}
    return all(test(value, data[key]) for key, test in tests.items() if key in data)


def contraindicated(step: Step, state: PatientState) -> bool:
    """docs/clinical-basis.md's global gates, each step's exclusions and the coach's blocks, independently."""
    flags = state.flags
    return bool(
        {"red_flag", "crisis"} & flags
        or (step.exercise and {"leg_weakness", "leg_numbness"} & flags)
        or (step.heat and {"numb_skin", "neuropathy"} & flags)
        or (step.exposure and state.scores.get("startback_risk") == "high" and "coach_supported" not in flags)
        or any(_oracle_holds(c, state.scores, flags) for c in step.exclude_when)
        or step.id in state.blocked)


# ------------------------------------------------------------------ strategies

scores_st = st.fixed_dictionaries({}, optional={
    "pain_now": st.integers(0, 10), "mood_now": st.integers(0, 10),
    "peg_score": st.floats(0, 10, allow_nan=False), "phq2_total": st.integers(0, 6),
    "gad2_total": st.integers(0, 6), "sleep_quality": st.integers(0, 10), "activity_days": st.integers(0, 7),
    "startback_risk": st.sampled_from(["low", "medium", "high"])})
state_st = st.builds(
    PatientState, scores=scores_st,
    flags=st.frozensets(st.sampled_from(sorted(FLAGS)), max_size=4),
    pinned=st.lists(st.sampled_from(IDS), max_size=3, unique=True).map(tuple),
    blocked=st.frozensets(st.sampled_from(IDS), max_size=8),
    timezone=st.sampled_from(ZONES))
history_st = st.lists(st.builds(
    PastSuggestion, step_id=st.sampled_from(IDS),
    suggested_at=st.integers(0, 20 * 24 * 60).map(lambda m: NOW - timedelta(minutes=m)),
    feedback=st.sampled_from(FEEDBACK)), max_size=25)


def _local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


# ------------------------------------------------------------------ properties

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=state_st, history=history_st, exclude=st.frozensets(st.sampled_from(IDS), max_size=3),
       seed=st.integers(0, 2**32 - 1), minutes=st.integers(0, 24 * 60))
def test_no_gated_or_contraindicated_step_is_ever_suggested(
        state: PatientState, history: list[PastSuggestion], exclude: frozenset[str], seed: int,
        minutes: int) -> None:
    now = NOW + timedelta(minutes=minutes)
    result = choose_step(LIBRARY, state, history, now, random.Random(seed), exclude=exclude)
    if result is None:
        return
    step = LIBRARY.get(result.step_id)
    assert step is not None
    assert not contraindicated(step, state), (step.id, gate_reasons(step, state))
    assert result.step_id not in exclude
    assert result.reason
    today = _local_day(now, state.timezone)
    todays = [h for h in history if _local_day(h.suggested_at, state.timezone) == today]
    if result.repeat:
        assert result.step_id in {h.step_id for h in todays}
        return
    active_today = [h for h in todays if h.feedback != "declined"]
    if active_today:  # a new one today only as the replacement of the one the patient turned down
        latest = sorted(active_today, key=lambda h: h.suggested_at)[-1]  # ties: the later row
        assert result.replaces == latest.step_id and latest.step_id in exclude
    if not result.pinned:
        recent = {h.step_id for h in history
                  if (today - _local_day(h.suggested_at, state.timezone)).days < NO_REPEAT_DAYS}
        assert result.step_id not in recent


bands_st = st.sampled_from(["0-3", "4-6", "7-10", "unknown"])
prior_st = st.dictionaries(st.tuples(bands_st, bands_st, st.sampled_from(IDS)),
                           st.tuples(st.floats(0, 500), st.floats(0, 500)), max_size=40).map(PopulationPrior)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=state_st, history=history_st, exclude=st.frozensets(st.sampled_from(IDS), max_size=3),
       when=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 24 * 60)), prior=prior_st)
def test_a_choice_said_to_need_no_prior_is_the_same_whatever_the_prior(
        state: PatientState, history: list[PastSuggestion], exclude: frozenset[str], when: tuple[int, int],
        prior: PopulationPrior) -> None:
    """The service skips the prior's queries when `needs_prior` says no: that must not change the step."""
    seed, minutes = when
    now = NOW + timedelta(minutes=minutes)
    if needs_prior(state, history, now, exclude):
        return
    without = choose_step(LIBRARY, state, history, now, random.Random(seed), exclude=exclude)
    with_prior = choose_step(LIBRARY, state, history, now, random.Random(seed), prior=prior, exclude=exclude)
    assert without == with_prior


def test_the_prior_is_needed_to_draw_a_step_not_to_show_todays_again() -> None:
    state = PatientState(timezone="UTC")
    today = [PastSuggestion("wind_down", NOW - timedelta(hours=1))]
    assert needs_prior(state, [], NOW)
    assert not needs_prior(state, today, NOW), "today's step is shown again"
    assert needs_prior(state, today, NOW, exclude={"wind_down"}), "a different one is drawn"
    assert needs_prior(state, [PastSuggestion("wind_down", NOW - timedelta(hours=1), "declined")], NOW)
    assert not needs_prior(PatientState(timezone="UTC", flags=frozenset({"crisis"})), [], NOW)


action_st = st.tuples(st.integers(0, 9), st.integers(0, 23),
                      st.sampled_from(["checkin", "different", "browse"]), st.sampled_from(FEEDBACK))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states=st.lists(state_st, min_size=1, max_size=4), actions=st.lists(action_st, max_size=30),
       seed=st.integers(0, 2**32 - 1))
def test_never_more_than_one_new_suggestion_a_day(states: list[PatientState],
                                                  actions: list[tuple[int, int, str, Feedback | None]],
                                                  seed: int) -> None:
    """Replays days of check-ins, 'a different one' requests and /steps calls, applying each answer as
    the service would; per patient-local day at most one suggestion stands, and swaps are capped."""
    rng = random.Random(seed)
    zone = states[0].timezone
    history: list[PastSuggestion] = []
    for n, (day, hour, kind, feedback) in enumerate(sorted(actions, key=lambda a: (a[0], a[1]))):
        state = PatientState(states[n % len(states)].scores, states[n % len(states)].flags,
                             states[n % len(states)].pinned, states[n % len(states)].blocked, zone)
        now = NOW + timedelta(days=day, hours=hour)
        exclude: set[str] = set()
        if kind == "different":
            today = _local_day(now, zone)
            exclude = {h.step_id for h in history if _local_day(h.suggested_at, zone) == today}
        result = choose_step(LIBRARY, state, history, now, rng, exclude=exclude)
        if result is None or result.repeat:
            continue
        step = LIBRARY.get(result.step_id)
        assert step is not None and not contraindicated(step, state)
        if result.replaces is not None:
            today = _local_day(now, zone)
            history = [PastSuggestion(h.step_id, h.suggested_at, "declined")
                       if h.step_id == result.replaces and _local_day(h.suggested_at, zone) == today
                       else h for h in history]
        history.append(PastSuggestion(result.step_id, now, feedback if kind == "browse" else None))
    per_day = Counter(_local_day(h.suggested_at, zone) for h in history if h.feedback != "declined")
    assert all(count <= 1 for count in per_day.values()), per_day
    offered = Counter(_local_day(h.suggested_at, zone) for h in history)
    assert all(count <= 1 + MAX_SWAPS_PER_DAY for count in offered.values()), offered


# ------------------------------------------------------------------ hard gates

def _ids_over_seeds(state: PatientState, history: list[PastSuggestion] | None = None,
                    n: int = 200) -> set[str]:
    chosen = set()
    for seed in range(n):
        result = choose_step(LIBRARY, state, history or [], NOW, random.Random(seed))
        if result is not None:
            chosen.add(result.step_id)
    return chosen


@pytest.mark.parametrize("flag", ["red_flag", "crisis"])
def test_no_step_at_all_in_a_red_flag_or_crisis_state_even_when_pinned(flag: str) -> None:
    state = PatientState(flags=frozenset({flag}), pinned=("relaxed_breathing",))
    assert choose_step(LIBRARY, state, [], NOW, random.Random(0)) is None
    assert steps_for_now(LIBRARY, state) == []


@pytest.mark.parametrize("flag", ["leg_weakness", "leg_numbness"])
def test_no_exercise_step_with_new_leg_weakness_or_numbness(flag: str) -> None:
    state = PatientState(flags=frozenset({flag}), pinned=("short_easy_walk",))
    chosen = _ids_over_seeds(state)
    assert chosen and not any(LIBRARY.by_id[i].exercise for i in chosen)
    assert not any(s.exercise for s in steps_for_now(LIBRARY, state))


@pytest.mark.parametrize("flag", ["numb_skin", "neuropathy"])
def test_no_heat_with_numb_skin_or_neuropathy(flag: str) -> None:
    state = PatientState(flags=frozenset({flag}), pinned=("warmth_for_comfort",))
    assert choose_step(LIBRARY, state, [], NOW, random.Random(0)).step_id != "warmth_for_comfort"  # type: ignore[union-attr]
    assert "warmth_for_comfort" not in {s.id for s in steps_for_now(LIBRARY, state)}


def test_exposure_work_for_high_risk_startback_only_with_a_coach() -> None:
    alone = PatientState(scores={"startback_risk": "high"}, pinned=("feared_movement_small_step",))
    result = choose_step(LIBRARY, alone, [], NOW, random.Random(0))
    assert result is not None and result.step_id != "feared_movement_small_step"
    supported = PatientState(scores={"startback_risk": "high"}, flags=frozenset({"coach_supported"}),
                             pinned=("feared_movement_small_step",))
    result = choose_step(LIBRARY, supported, [], NOW, random.Random(0))
    assert result is not None and result.step_id == "feared_movement_small_step"


def test_the_code_gate_holds_exposure_back_even_if_the_data_forgets_it() -> None:
    step = LIBRARY.by_id["feared_movement_small_step"].model_copy(update={"exclude_when": ()})
    state = PatientState(scores={"startback_risk": "high"})
    assert gate_reasons(step, state) == ("graded exposure needs a coach for high-risk STarT Back",)


def test_a_steps_own_exclusion_holds_it_back() -> None:
    state = PatientState(scores={"pain_now": 8})
    assert "exclude_when: pain_now >= 8" in gate_reasons(LIBRARY.by_id["bridges"], state)
    assert "bridges" not in _ids_over_seeds(state)


# ------------------------------------------------------------------ coach pins and blocks

def test_a_coach_pin_forces_that_step_and_says_so() -> None:
    result = choose_step(LIBRARY, PatientState(pinned=("wind_down",)), [], NOW, random.Random(0))
    assert result is not None
    assert (result.step_id, result.pinned, result.reason) == ("wind_down", True, "pinned by the coach")


def test_a_pin_may_repeat_within_the_week_but_not_twice_in_a_day() -> None:
    history = [PastSuggestion("wind_down", NOW - timedelta(days=1), "helped")]
    state = PatientState(pinned=("wind_down",))
    assert choose_step(LIBRARY, state, history, NOW, random.Random(0)).step_id == "wind_down"  # type: ignore[union-attr]
    history.append(PastSuggestion("wind_down", NOW))
    again = choose_step(LIBRARY, state, history, NOW + timedelta(hours=2), random.Random(0))
    assert again is not None and again.repeat


def test_with_several_pins_the_least_recently_offered_comes_next() -> None:
    state = PatientState(pinned=("wind_down", "body_scan"))
    history = [PastSuggestion("wind_down", NOW - timedelta(days=1))]
    assert choose_step(LIBRARY, state, history, NOW, random.Random(0)).step_id == "body_scan"  # type: ignore[union-attr]


def test_a_pinned_step_that_fails_a_gate_is_not_forced() -> None:
    state = PatientState(scores={"pain_now": 9}, pinned=("bridges",))
    result = choose_step(LIBRARY, state, [], NOW, random.Random(0))
    assert result is not None and result.step_id != "bridges" and not result.pinned


def test_a_block_beats_a_pin_and_is_never_suggested() -> None:
    state = PatientState(pinned=("wind_down",), blocked=frozenset({"wind_down", "body_scan"}))
    chosen = _ids_over_seeds(state)
    assert chosen and not chosen & {"wind_down", "body_scan"}
    assert gate_reasons(LIBRARY.by_id["wind_down"], state) == ("blocked by the coach",)


# ------------------------------------------------------------------ pacing: a day, a week

def _tiny(*ids: str) -> StepLibrary:
    return StepLibrary(tuple(Step.model_validate({"id": i, "title": i, "text": "Do it.", "category": "pacing",
                                                  "effort": "low", "minutes": 5, "exercise": False})
                             for i in ids))


def test_no_step_is_suggested_again_within_seven_days() -> None:
    library, rng, history = _tiny("a", "b"), random.Random(4), []
    for day in range(NO_REPEAT_DAYS + 1):
        now = NOW + timedelta(days=day)
        result = choose_step(library, PatientState(), history, now, rng)
        if day < 2:
            assert result is not None
            history.append(PastSuggestion(result.step_id, now, "helped"))
        elif day < NO_REPEAT_DAYS:
            assert result is None, day  # both steps rest for a week: nothing rather than a repeat
        else:
            assert result is not None and result.step_id == history[0].step_id


def test_a_second_request_the_same_day_returns_the_same_step_marked_as_a_repeat() -> None:
    first = choose_step(LIBRARY, PatientState(), [], NOW, random.Random(1))
    assert first is not None and not first.repeat
    history = [PastSuggestion(first.step_id, NOW)]
    again = choose_step(LIBRARY, PatientState(), history, NOW + timedelta(hours=5), random.Random(2))
    assert again is not None and again.repeat and again.step_id == first.step_id
    assert again.reason.startswith("already suggested today at 09:00")


def test_the_day_is_the_patients_local_day() -> None:
    """23:30 and 00:30 in Auckland are different days, though the same UTC day."""
    zone = ZoneInfo("Pacific/Auckland")
    evening = datetime(2026, 3, 10, 23, 30, tzinfo=zone)
    state = PatientState(timezone="Pacific/Auckland")
    history = [PastSuggestion("wind_down", evening)]
    after_midnight = evening + timedelta(hours=1)
    assert evening.astimezone(UTC).date() == after_midnight.astimezone(UTC).date()
    result = choose_step(LIBRARY, state, history, after_midnight, random.Random(0))
    assert result is not None and not result.repeat
    london = choose_step(LIBRARY, PatientState(), history, after_midnight, random.Random(0))
    assert london is not None and london.repeat


def test_a_repeat_of_a_step_gated_since_the_morning_is_not_shown() -> None:
    history = [PastSuggestion("bridges", NOW)]
    later = PatientState(scores={"pain_now": 9})
    assert choose_step(LIBRARY, later, history, NOW + timedelta(hours=3), random.Random(0)) is None


def test_asking_for_a_different_one_replaces_todays_step_a_limited_number_of_times() -> None:
    rng, history, now = random.Random(7), [], NOW
    first = choose_step(LIBRARY, PatientState(), history, now, rng)
    assert first is not None
    history.append(PastSuggestion(first.step_id, now))
    seen = [first.step_id]
    for swap in range(MAX_SWAPS_PER_DAY + 1):
        now += timedelta(minutes=5)
        other = choose_step(LIBRARY, PatientState(), history, now, rng, exclude={seen[-1]})
        if swap == MAX_SWAPS_PER_DAY:
            assert other is None  # one at a time, not a catalogue; /steps is there to browse
            break
        assert other is not None and other.step_id not in seen and other.replaces == seen[-1]
        history = [PastSuggestion(h.step_id, h.suggested_at, "declined") if h.step_id == seen[-1] else h
                   for h in history]
        history.append(PastSuggestion(other.step_id, now))
        seen.append(other.step_id)


def test_a_pinned_step_turned_down_today_does_not_come_back_today() -> None:
    state = PatientState(pinned=("wind_down",))
    history = [PastSuggestion("wind_down", NOW, "declined")]
    result = choose_step(LIBRARY, state, history, NOW + timedelta(hours=1), random.Random(0))
    assert result is not None and result.step_id != "wind_down" and not result.pinned
    tomorrow = choose_step(LIBRARY, state, history, NOW + timedelta(days=1), random.Random(0))
    assert tomorrow is not None and tomorrow.step_id == "wind_down"


def test_steps_for_now_lists_allowed_steps_that_suit_first() -> None:
    state = PatientState(scores={"sleep_quality": 2}, flags=frozenset({"leg_numbness"}))
    listed = steps_for_now(LIBRARY, state)
    suits = [any(_oracle_holds(c, state.scores, state.flags) for c in s.suits) for s in listed]
    assert suits == sorted(suits, reverse=True) and suits[0]
    assert "same_wake_time" in {s.id for s, fits in zip(listed, suits, strict=True) if fits}
    assert not any(s.exercise for s in listed)
    assert {s.id for s in listed} == {s.id for s in LIBRARY.steps if not contraindicated(s, state)}


# ------------------------------------------------------------------ learning and reasons

def test_a_step_that_helped_is_chosen_more_often_than_one_that_did_not() -> None:
    library = _tiny("good", "bad", "x1", "x2")
    old = NOW - timedelta(days=30)
    history = [PastSuggestion("good", old, "helped")] * 4 + [PastSuggestion("bad", old, "not_helped")] * 4
    picks = Counter(choose_step(library, PatientState(), history, NOW, random.Random(s)).step_id  # type: ignore[union-attr]
                    for s in range(300))
    assert picks["good"] > 150 > picks["bad"] * 10


def test_not_tried_counts_as_a_quarter_of_did_not_help_and_no_answer_as_nothing() -> None:
    history = [PastSuggestion("a", NOW, "not_tried"), PastSuggestion("a", NOW, "declined"),
               PastSuggestion("a", NOW, None), PastSuggestion("a", NOW, "helped")]
    assert personal_counts(history, "a") == (1.0, 0.5)


def test_the_population_prior_uses_similar_patients_then_everyone_then_nothing() -> None:
    outcomes = ([Outcome("walk", "helped", pain_now=8, mood_now=2)] * 6
                + [Outcome("walk", "not_helped", pain_now=2, mood_now=8)] * 6)
    prior = PopulationPrior.from_outcomes(outcomes)
    a, b, said = prior.beta_for("walk", {"pain_now": 9, "mood_now": 3})
    assert a > b and said == "similar patients (pain 7-10, mood 0-3): helped 6 of 6"
    a, b, said = prior.beta_for("walk", {"pain_now": 5})
    assert a == b and said == "all patients: helped 6 of 12"
    assert prior.beta_for("other", {})[2] == "no data from other patients yet"


def test_a_new_patient_gets_what_helped_similar_patients() -> None:
    library = _tiny("works_for_many", "rarely_helps", "unknown")
    prior = PopulationPrior.from_outcomes(
        [Outcome("works_for_many", "helped", 7, 3)] * 30 + [Outcome("rarely_helps", "not_helped", 7, 3)] * 30)
    state = PatientState(scores={"pain_now": 7, "mood_now": 3})
    picks = Counter(choose_step(library, state, [], NOW, random.Random(s), prior=prior).step_id  # type: ignore[union-attr]
                    for s in range(300))
    assert picks["works_for_many"] > picks["unknown"] > picks["rarely_helps"]


def test_each_suggestion_records_why_it_was_chosen() -> None:
    prior = PopulationPrior.from_outcomes([Outcome("wind_down", "helped", 7, 3)] * 5)
    state = PatientState(scores={"pain_now": 7, "mood_now": 3, "sleep_quality": 3}, blocked=frozenset(
        s.id for s in LIBRARY.steps if s.id != "wind_down"))
    history = [PastSuggestion("wind_down", NOW - timedelta(days=9), "helped"),
               PastSuggestion("wind_down", NOW - timedelta(days=20), "not_tried")]
    result = choose_step(LIBRARY, state, history, NOW, random.Random(0), prior=prior)
    assert result is not None
    assert result.reason == ("this patient: helped 1 of 2 tries, 1 not tried; similar patients "
                             "(pain 7-10, mood 0-3): helped 5 of 5; suits now: sleep_quality <= 5 "
                             "(chosen among 1 allowed)")


def test_the_same_inputs_and_seed_give_the_same_choice() -> None:
    state = PatientState(scores={"pain_now": 5, "mood_now": 4})
    picks = {choose_step(LIBRARY, state, [], NOW, random.Random(42)).step_id for _ in range(5)}  # type: ignore[union-attr]
    assert len(picks) == 1


def test_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        choose_step(LIBRARY, PatientState(), [], datetime(2026, 3, 10, 9), random.Random(0))
