"""Edges of the escalation rules that mutation testing showed no test watched (docs/safety.md,
"Mutation testing"): the backup re-alert at exactly the deadline, re-alerts counted in working time,
the PEG reason's figures, unknown tiers, and the messages that name a naive time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from coachbot.care.escalation_rules import (
    EscalationRules,
    EscalationState,
    Measurement,
    PatientHistory,
    deadline_for,
    evaluate,
    expect_contact,
    load_escalation_rules,
    next_realert,
    once_per_rules_file,
    realert_times,
    recent_days,
    resolution_deadline,
    stronger,
)
from coachbot.spec.escalation_rules import PercentRiseRule, TierSettings
from coachbot.spec.hours import Duration
from tests.unit.test_escalation_rules import SHIPPED

RULES = load_escalation_rules(SHIPPED)
LONDON = ZoneInfo("Europe/London")
MONDAY = date(2026, 2, 2)  # no clock change that week; coaches work 9 to 5, Monday to Friday


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def with_tiers(**tiers: TierSettings) -> EscalationRules:
    return replace(RULES, tiers={**RULES.tiers, **tiers})


# ---------------------------------------------------------------- re-alerts to the backup


def test_the_backup_re_alert_at_exactly_the_deadline_is_sent() -> None:
    opened = at(MONDAY, 3)
    due = deadline_for("urgent", opened, RULES)
    assert realert_times("urgent", opened, due, RULES) == [due]
    assert realert_times("urgent", opened, due - timedelta(seconds=1), RULES) == []


def test_re_alerts_stop_at_ten_thousand_however_long_nobody_acknowledges() -> None:
    opened = at(MONDAY, 3)
    times = realert_times("urgent", opened, opened + timedelta(days=400), RULES)
    assert len(times) == 10_000
    assert times[-1] == deadline_for("urgent", opened, RULES) + timedelta(minutes=30) * 9_999


SOON_EVERY_TWO_WORKING_HOURS = TierSettings(acknowledge_within=Duration(working_days=1),
                                            realert_every=Duration(working_hours=2))


def test_re_alerts_every_two_working_hours_skip_the_night() -> None:
    rules = with_tiers(soon=SOON_EVERY_TWO_WORKING_HOURS)
    opened = at(MONDAY, 10)
    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    assert realert_times("soon", opened, at(wednesday, 10), rules) == [
        at(tuesday, 10), at(tuesday, 12), at(tuesday, 14), at(tuesday, 16), at(wednesday, 10)]


def test_the_next_re_alert_in_working_time_is_strictly_after_the_last_one_sent() -> None:
    rules = with_tiers(soon=SOON_EVERY_TWO_WORKING_HOURS)
    opened = at(MONDAY, 10)
    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    assert next_realert("soon", opened, opened, rules) == at(tuesday, 10)
    assert next_realert("soon", opened, at(tuesday, 10), rules) == at(tuesday, 12)
    assert next_realert("soon", opened, at(tuesday, 12), rules) == at(tuesday, 14)
    assert next_realert("soon", opened, at(tuesday, 16, 30), rules) == at(wednesday, 10)


def test_a_resolution_deadline_in_working_hours_skips_the_weekend() -> None:
    rules = with_tiers(soon=replace_tier(RULES.tiers["soon"], resolve_within=Duration(working_hours=2)))
    friday = MONDAY + timedelta(days=4)
    assert resolution_deadline("soon", at(friday, 16, 30), rules) == at(friday + timedelta(days=3), 10, 30)


def test_a_tier_the_file_does_not_configure_has_no_resolution_deadline() -> None:
    rules = replace(RULES, tiers={k: v for k, v in RULES.tiers.items() if k != "routine"})
    assert resolution_deadline("routine", at(MONDAY, 10), rules) is None


def replace_tier(tier: TierSettings, **changes: object) -> TierSettings:
    return tier.model_copy(update=changes)


def test_a_hand_built_tier_with_no_deadline_is_refused_by_name() -> None:
    rules = with_tiers(urgent=TierSettings())
    with pytest.raises(ValueError, match="the urgent tier has no acknowledge_within deadline"):
        deadline_for("urgent", at(MONDAY, 10), rules)


def test_a_tier_without_words_for_the_patient_says_nothing() -> None:
    assert expect_contact("urgent", with_tiers(urgent=TierSettings())) == ""


# ---------------------------------------------------------------- comparing statements of risk


def test_an_unknown_tier_ranks_as_routine() -> None:
    assert stronger("unknown", 0, "routine", 0) == 0
    assert stronger("routine", 0, "unknown", 0) == 0
    assert stronger("unknown", 1, "routine", 0) == 1
    assert stronger("routine", 0, "unknown", 1) == -1
    assert stronger("soon", 0, "unknown", 5) == 1


# ---------------------------------------------------------------- the PEG rise and its reason


def peg(base: float, *values: float, rules: EscalationRules = RULES) -> dict[str, object] | None:
    """The `peg_worse` hit's reason and evidence for PEGs on Monday, Tuesday... against `base`."""
    readings = tuple(Measurement(at(MONDAY + timedelta(days=n), 19), "peg_score", v)
                     for n, v in enumerate(values))
    history = PatientHistory(zone=LONDON, measurements=readings, baselines={"peg_score": base})
    now = at(MONDAY + timedelta(days=len(values)), 8)
    hits = {hit.rule: hit for hit in evaluate(rules, history, now)}
    hit = hits.get("peg_worse")
    return None if hit is None else {"reason": hit.reason, **hit.evidence}


def test_a_peg_just_under_thirty_percent_above_the_baseline_raises_nothing() -> None:
    assert peg(5, 6.49) is None
    assert peg(5, 6.5) is not None


def test_the_peg_reason_states_the_rise_in_percent() -> None:
    found = peg(5, 7)
    assert found is not None
    assert found["reason"].startswith("PEG 7 on 2026-02-02 is 40% above the baseline of 5")  # type: ignore[attr-defined]
    assert found["rise_percent"] == 40.0


def test_a_peg_baseline_of_one_still_gets_a_percentage() -> None:
    found = peg(1, 2.5)
    assert found is not None and found["rise_percent"] == 150.0
    assert "is 150% above" in found["reason"]  # type: ignore[operator]


def test_a_vanishingly_small_baseline_is_reported_as_an_infinite_rise() -> None:
    found = peg(1e-310, 2)
    assert found is not None and found["rise_percent"] is None
    assert "is ∞% above" in found["reason"]  # type: ignore[operator]


def test_a_percent_rise_rule_that_cannot_rise_above_a_zero_baseline_stays_quiet() -> None:
    rule = RULES.rules["peg_worse"]
    assert isinstance(rule, PercentRiseRule)
    flat = replace(RULES, rules={"peg_worse": rule.model_copy(update={"min_points": 0})})
    assert peg(0, 0, rules=flat) is None


def test_a_percent_rise_reason_may_name_its_measure() -> None:
    rule = RULES.rules["peg_worse"]
    named = replace(RULES, rules={"peg_worse": rule.model_copy(update={"reason": "{measure} is up {rise}"})})
    found = peg(5, 7, rules=named)
    assert found is not None and found["reason"] == "peg_score is up 2"


# ---------------------------------------------------------------- evidence and times


def test_a_dialogs_alert_carries_the_last_days_of_the_patients_own_local_dates() -> None:
    kiritimati = ZoneInfo("Pacific/Kiritimati")  # UTC+14: already tomorrow there
    now = datetime(2026, 2, 2, 12, tzinfo=UTC)
    evidence = recent_days(RULES, PatientHistory(zone=kiritimati), now)
    rows = evidence["last_days"]
    assert isinstance(rows, list) and len(rows) == RULES.evidence.days
    assert rows[-1]["date"] == "2026-02-03"
    assert set(evidence) == {"baselines", "last_days"}


def test_a_naive_time_is_refused_by_name() -> None:
    naive = datetime(2026, 2, 2, 12)
    with pytest.raises(ValueError, match=r"^now must be timezone-aware"):
        recent_days(RULES, PatientHistory(zone=LONDON), naive)
    with pytest.raises(ValueError, match=r"^opened_at must be timezone-aware"):
        EscalationState("pain_worse", "open", naive)
    with pytest.raises(ValueError, match=r"^resolved_at must be timezone-aware"):
        EscalationState("pain_worse", "resolved", at(MONDAY, 10), naive)


def test_a_function_of_the_rules_file_is_computed_once_per_file() -> None:
    calls: list[int] = []

    @once_per_rules_file
    def count(rules: EscalationRules) -> int:
        calls.append(1)
        return len(calls)

    assert count(RULES) == 1
    assert count(RULES) == 1, "the same file is remembered"
    other = replace(RULES)
    assert count(other) == 2, "another file is computed afresh"
    files = [replace(RULES) for _ in range(4)]
    for rules in files:
        count(rules)
    assert len(calls) == 6
    assert count(files[-1]) == 6 and count(RULES) == 7, "only the last few files are kept"


# ---------------------------------------------------------------- every figure a reason may name

KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14: its local date is not the UTC date


def only(name: str, reason: str, **changes: object) -> EscalationRules:
    """The shipped file with one evaluated rule, its reason naming every figure it may use."""
    rule = RULES.rules[name]
    return replace(RULES, rules={name: rule.model_copy(update={"reason": reason, **changes})})


def one_hit(rules: EscalationRules, history: PatientHistory, now: datetime) -> tuple[str, dict[str, object]]:
    hits = evaluate(rules, history, now)
    assert len(hits) == 1, hits
    evidence = {k: v for k, v in hits[0].evidence.items() if k not in ("baselines", "last_days")}
    return hits[0].reason, evidence


def days_of(code: str, *values: float, first: date = MONDAY) -> tuple[Measurement, ...]:
    return tuple(Measurement(at(first + timedelta(days=n), 19), code, v) for n, v in enumerate(values))


def test_a_sustained_rise_names_every_figure_of_the_latest_days() -> None:
    rules = only("pain_worse", "{measure}|{baseline}|{change}|{threshold}|{days}|{values}|{latest}|{date}")
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 6, 7, 8, 9),
                             baselines={"pain_now": 5})
    reason, evidence = one_hit(rules, history, at(MONDAY + timedelta(days=4), 8))
    assert reason == "pain_now|5|2|7|3|2026-02-03: 7, 2026-02-04: 8, 2026-02-05: 9|9|2026-02-05"
    assert evidence == {"rule": "pain_worse", "tier": "soon", "kind": "sustained_change",
                        "measure": "pain_now",
                        "baseline": 5, "change": 2, "threshold": 7,
                        "values": [{"date": "2026-02-03", "value": 7.0}, {"date": "2026-02-04", "value": 8.0},
                                   {"date": "2026-02-05", "value": 9.0}]}


def test_a_sustained_fall_names_every_figure_of_the_latest_days() -> None:
    rules = only("mood_low", "{measure}|{baseline}|{change}|{threshold}|{days}|{values}|{latest}|{date}")
    history = PatientHistory(zone=LONDON, measurements=days_of("mood_now", 4, 3, 4),
                             baselines={"mood_now": 6})
    reason, evidence = one_hit(rules, history, at(MONDAY + timedelta(days=3), 8))
    assert reason == "mood_now|6|2|4|3|2026-02-02: 4, 2026-02-03: 3, 2026-02-04: 4|4|2026-02-04"
    assert evidence["threshold"] == 4 and evidence["change"] == 2


def test_a_reading_a_rounding_error_short_of_the_threshold_counts() -> None:
    tolerance = 1e-9
    rules = only("pain_worse", "{threshold}")
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 7 - tolerance, 7, 7),
                             baselines={"pain_now": 5})
    assert one_hit(rules, history, at(MONDAY + timedelta(days=3), 8))[0] == "7"
    low = only("mood_low", "{threshold}")
    history = PatientHistory(zone=LONDON, measurements=days_of("mood_now", 4 + tolerance, 4, 4),
                             baselines={"mood_now": 6})
    assert one_hit(low, history, at(MONDAY + timedelta(days=3), 8))[0] == "4"
    phq = only("phq2_positive", "{latest}")
    history = PatientHistory(zone=LONDON, measurements=days_of("phq2_total", 3 - tolerance))
    assert one_hit(phq, history, at(MONDAY + timedelta(days=1), 8))[0] == "3"
    peg_rule = only("peg_worse", "{threshold}")
    history = PatientHistory(zone=LONDON, measurements=days_of("peg_score", 6.5 - tolerance),
                             baselines={"peg_score": 5})
    assert one_hit(peg_rule, history, at(MONDAY + timedelta(days=1), 8))[0] == "6.5"


def test_a_baseline_a_rounding_error_above_a_band_edge_stays_in_that_band() -> None:
    rules = only("pain_worse", "{change}")
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 6, 6, 6),
                             baselines={"pain_now": 4 + 1e-9})
    assert one_hit(rules, history, at(MONDAY + timedelta(days=3), 8))[0] == "1"


def test_a_baseline_above_the_last_band_takes_the_last_bands_change() -> None:
    bands = [{"up_to": 2, "change": 1}, {"up_to": 4, "change": 2}, {"up_to": 6, "change": 3}]
    rule = RULES.rules["pain_worse"]
    change_by_baseline = [type(rule.change_by_baseline[0]).model_validate(b) for b in bands]  # type: ignore[union-attr,index]
    rules = only("pain_worse", "{change}", change_by_baseline=change_by_baseline)
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 10, 10, 10),
                             baselines={"pain_now": 7})
    assert one_hit(rules, history, at(MONDAY + timedelta(days=3), 8))[0] == "3"


def test_a_sustained_rule_with_no_change_at_all_never_fires() -> None:
    rules = only("pain_worse", "{change}", change_by_baseline=None, change=None)
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 6, 7, 8),
                             baselines={"pain_now": 5})
    assert evaluate(rules, history, at(MONDAY + timedelta(days=3), 8)) == []


def test_a_change_no_bigger_than_the_rounding_tolerance_never_fires() -> None:
    rules = only("pain_worse", "{change}", change_by_baseline=None, change=1e-9)
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 0, 0, 0),
                             baselines={"pain_now": 0})
    assert evaluate(rules, history, at(MONDAY + timedelta(days=3), 8)) == []


def test_a_percent_rise_names_every_figure_rounded_as_the_coach_reads_it() -> None:
    rules = only("peg_worse", "{measure}|{baseline}|{percent}|{threshold}|{rise}|{rise_percent}|{values}|"
                              "{latest}|{date}")
    history = PatientHistory(zone=LONDON, measurements=days_of("peg_score", 4.25), baselines={"peg_score": 3})
    reason, evidence = one_hit(rules, history, at(MONDAY + timedelta(days=1), 8))
    assert reason == "peg_score|3|30|4|1.2|42|2026-02-02: 4.2|4.2|2026-02-02"
    assert evidence == {"rule": "peg_worse", "tier": "soon", "kind": "percent_rise", "measure": "peg_score",
                        "baseline": 3, "percent": 30, "threshold": 4, "rise_percent": 41.7,
                        "values": [{"date": "2026-02-02", "value": 4.25}]}


def test_a_threshold_names_every_figure() -> None:
    rules = only("phq2_positive", "{measure}|{at_least}|{latest}|{date}")
    history = PatientHistory(zone=LONDON, measurements=days_of("phq2_total", 4))
    reason, evidence = one_hit(rules, history, at(MONDAY + timedelta(days=1), 8))
    assert reason == "phq2_total|3|4|2026-02-02"
    assert evidence == {"rule": "phq2_positive", "tier": "soon", "kind": "threshold", "measure": "phq2_total",
                        "at_least": 3, "values": [{"date": "2026-02-02", "value": 4.0}]}


def test_missed_check_ins_name_their_count_and_dates() -> None:
    rules = only("checkins_missed", "{count}|{dates}")
    missed = {MONDAY + timedelta(days=n): "missed" for n in range(3)}
    history = PatientHistory(zone=LONDON, checkins=missed)  # type: ignore[arg-type]
    reason, evidence = one_hit(rules, history, at(MONDAY + timedelta(days=3), 8))
    assert reason == "3|2026-02-02, 2026-02-03, 2026-02-04"
    assert evidence["missed"] == ["2026-02-02", "2026-02-03", "2026-02-04"]


def test_missed_check_ins_count_only_after_the_local_day_a_coach_resolved_them() -> None:
    rules = only("checkins_missed", "{dates}")
    thursday = MONDAY + timedelta(days=3)
    missed = {thursday + timedelta(days=n): "missed" for n in range(3)}  # Thursday to Saturday, local
    resolved_at = datetime(2026, 2, 4, 12, tzinfo=UTC)  # Wednesday in UTC, Thursday 02:00 in Kiritimati
    resolved = EscalationState("checkins_missed", "resolved", resolved_at - timedelta(hours=1), resolved_at)
    history = PatientHistory(zone=KIRITIMATI, checkins=missed, escalations=(resolved,))  # type: ignore[arg-type]
    now = datetime(2026, 2, 7, 20, tzinfo=KIRITIMATI)
    assert evaluate(rules, history, now) == [], "Thursday was the day the coach resolved it: two days left"


# ---------------------------------------------------------------- the usual level


def usual_pain(usual_at: datetime, *answers: tuple[datetime, float], median_days: int = 4,
               zone: ZoneInfo = LONDON) -> object:
    rules = RULES
    if median_days != 4:
        source = RULES.baselines["pain_now"].model_copy(update={"median_with_first_days": median_days})
        rules = replace(RULES, baselines={**RULES.baselines, "pain_now": source})
    readings = (Measurement(usual_at, "pain_usual", 4), *(Measurement(t, "pain_now", v) for t, v in answers))
    history = PatientHistory(zone=zone, measurements=readings)
    return recent_days(rules, history, datetime(2026, 3, 1, tzinfo=UTC))["baselines"]["pain_now"]  # type: ignore[index]


def test_a_pain_answer_on_the_day_usual_pain_was_asked_counts_towards_the_baseline() -> None:
    answers = [(at(MONDAY + timedelta(days=n), 19), 6.0) for n in range(4)]
    assert usual_pain(at(MONDAY, 10), *answers) == 6


def test_only_answers_less_than_seven_days_after_usual_pain_count_towards_the_baseline() -> None:
    answers = [(at(MONDAY + timedelta(days=n), 19), 6.0) for n in (0, 1, 2, 7)]
    assert usual_pain(at(MONDAY, 10), *answers) == 4, "the answer a week later is not baseline"


def test_a_baseline_of_usual_pain_and_one_first_day() -> None:
    assert usual_pain(at(MONDAY, 10), (at(MONDAY, 19), 8.0), median_days=1) == 6


def test_the_baseline_days_start_on_the_patients_local_date() -> None:
    usual_at = datetime(2026, 2, 2, 12, tzinfo=UTC)  # Tuesday 02:00 in Kiritimati
    local = [datetime(2026, 2, 2 + n, 20, tzinfo=KIRITIMATI) for n in range(5)]  # Monday to Friday, local
    answers = list(zip(local, [0.0, 0.0, 0.0, 9.0, 9.0], strict=True))
    assert usual_pain(usual_at, *answers, zone=KIRITIMATI) == 4, "Monday's answer came before usual pain"


# ---------------------------------------------------------------- floors, resolutions and the edges of time


def test_a_floor_names_every_figure_of_the_days_past_it() -> None:
    rules = only("pain_floor", "{measure}|{at}|{days}|{of_last_days}|{values}|{latest}|{date}")
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 9, 5, 10, 9.5))
    reason, evidence = one_hit(rules, history, at(MONDAY + timedelta(days=4), 8))
    assert reason == "pain_now|9|3|5|2026-02-02: 9, 2026-02-04: 10, 2026-02-05: 9.5|9.5|2026-02-05"
    assert evidence == {"rule": "pain_floor", "tier": "soon", "kind": "absolute_floor", "measure": "pain_now",
                        "at": 9, "of_last_days": 5,
                        "values": [{"date": "2026-02-02", "value": 9.0},
                                   {"date": "2026-02-04", "value": 10.0},
                                   {"date": "2026-02-05", "value": 9.5}]}


def test_a_floor_counts_a_day_a_rounding_error_short_of_it() -> None:
    tolerance = 1e-9
    pain = only("pain_floor", "{values}")
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 9 - tolerance, 9, 9))
    assert len(evaluate(pain, history, at(MONDAY + timedelta(days=3), 8))) == 1
    mood = only("mood_floor", "{values}", covered_by=[])
    history = PatientHistory(zone=LONDON, measurements=days_of("mood_now", 1 + tolerance, 1, 1))
    assert len(evaluate(mood, history, at(MONDAY + timedelta(days=3), 8))) == 1


def test_a_resolution_of_one_rule_never_hides_the_readings_of_another() -> None:
    resolved = EscalationState("pain_worse", "resolved", at(MONDAY, 8), at(MONDAY + timedelta(days=3), 8))
    history = PatientHistory(zone=LONDON, measurements=days_of("mood_now", 4, 3, 4),
                             baselines={"mood_now": 6},
                             escalations=(resolved,))
    hits = {hit.rule for hit in evaluate(RULES, history, at(MONDAY + timedelta(days=3), 9))}
    assert "mood_low" in hits, "mood readings before pain_worse was resolved still count for mood_low"


def test_a_resolved_then_raised_again_escalation_counts_from_its_resolution() -> None:
    resolved = EscalationState("pain_worse", "resolved", at(MONDAY, 8), at(MONDAY + timedelta(days=1), 8))
    again = EscalationState("pain_worse", "open", at(MONDAY + timedelta(days=5), 8))
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 9, 9, 9, 9, 9),
                             baselines={"pain_now": 5}, escalations=(resolved, again))
    hits = {hit.rule for hit in evaluate(RULES, history, at(MONDAY + timedelta(days=5), 9))}
    assert "pain_worse" in hits


def test_a_reading_recorded_at_the_very_moment_of_the_resolution_was_seen_by_the_coach() -> None:
    moment = at(MONDAY + timedelta(days=2), 19)
    resolved = EscalationState("pain_worse", "resolved", at(MONDAY, 8), moment)
    rules = only("pain_worse", "{values}")
    history = PatientHistory(zone=LONDON, measurements=days_of("pain_now", 9, 9, 9, 9, 9, 9),
                             baselines={"pain_now": 5}, escalations=(resolved,))
    assert evaluate(rules, history, at(MONDAY + timedelta(days=4), 20)) == [], "only two days after it"
    assert len(evaluate(rules, history, at(MONDAY + timedelta(days=5), 20))) == 1


def test_a_reading_recorded_at_the_very_moment_of_evaluation_counts() -> None:
    rules = only("phq2_positive", "{latest}")
    history = PatientHistory(zone=LONDON, measurements=days_of("phq2_total", 4))
    assert len(evaluate(rules, history, at(MONDAY, 19))) == 1


def test_a_mistyped_baseline_is_kept_inside_the_scale() -> None:
    history = PatientHistory(zone=LONDON, baselines={"pain_now": 42, "mood_now": -3})
    baselines = recent_days(RULES, history, at(MONDAY, 9))["baselines"]
    assert baselines["pain_now"] == 10 and baselines["mood_now"] == 0  # type: ignore[index]


def test_the_rules_judge_days_by_the_patients_local_date() -> None:
    rules = only("phq2_positive", "{date}")
    answered = Measurement(datetime(2026, 2, 1, 12, tzinfo=UTC), "phq2_total", 4)  # 2 Feb, 02:00 local
    history = PatientHistory(zone=KIRITIMATI, measurements=(answered,))
    now = datetime(2026, 2, 15, 11, tzinfo=UTC)  # 16 Feb local: 14 days later, outside the window
    assert evaluate(rules, history, now) == []
    hits = evaluate(rules, history, now - timedelta(hours=12))  # 15 Feb local: 13 days later
    assert [hit.reason for hit in hits] == ["2026-02-02"]
    assert hits[0].evidence["last_days"][-1]["date"] == "2026-02-15"  # type: ignore[index]


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_time_whose_zone_gives_no_offset_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^recorded_at must be timezone-aware"):
        Measurement(datetime(2026, 2, 2, 12, tzinfo=_NoOffset()), "pain_now", 3)
    with pytest.raises(ValueError, match=r"^now must be timezone-aware"):
        evaluate(RULES, PatientHistory(zone=LONDON), datetime(2026, 2, 2, 12))


def test_a_fall_no_bigger_than_the_rounding_tolerance_never_fires() -> None:
    rules = only("mood_low", "{change}", change=1e-9)
    history = PatientHistory(zone=LONDON, measurements=days_of("mood_now", 0, 0, 0),
                             baselines={"mood_now": 1})
    assert evaluate(rules, history, at(MONDAY + timedelta(days=3), 8)) == []


def test_a_percent_rise_no_bigger_than_the_rounding_tolerance_never_fires() -> None:
    rule = RULES.rules["peg_worse"]
    tiny = replace(RULES, rules={"peg_worse": rule.model_copy(update={"min_points": 1e-9})})
    assert peg(0, 0, rules=tiny) is None


def test_a_peg_rise_from_a_baseline_of_zero_is_reported_as_an_infinite_rise() -> None:
    found = peg(0, 2)
    assert found is not None and found["rise_percent"] is None
    assert "is ∞% above the baseline of 0" in found["reason"]  # type: ignore[operator]
