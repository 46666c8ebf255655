"""Escalation rules as data: each default rule fires on a history that should reach a coach and stays
quiet just under its threshold; days are the patient's local days; deadlines count working hours
(urgent ones do not); and each kind of broken escalation.yaml is reported with its line."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachbot.care.escalation_rules import (
    EscalationRules,
    EscalationState,
    Measurement,
    PatientHistory,
    RuleHit,
    check_escalation_file,
    deadline_for,
    evaluate,
    expect_contact,
    load_escalation_rules,
    next_realert,
    realert_times,
    replies_for,
    resolution_deadline,
    should_raise,
    stronger,
    triage,
)
from coachbot.care.working_hours import WorkingHours, add_working_time, is_working_time
from coachbot.spec import DialogError
from coachbot.spec.compile import check_path
from coachbot.spec.escalation_rules import escalation_json_schema
from coachbot.spec.library import DialogLibrary

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
SHIPPED = DIALOGS / "escalation.yaml"
RULES = load_escalation_rules(SHIPPED)
LONDON = ZoneInfo("Europe/London")
MONDAY = date(2026, 2, 2)  # a week with no clock change; clocks go forward on 2026-03-29


def at(day: date, hour: int = 19, minute: int = 0, zone: ZoneInfo = LONDON) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def series(code: str, values: list[float], first: date = MONDAY, hour: int = 19) -> list[Measurement]:
    """One answer a day at `hour` local time, from `first` on."""
    return [Measurement(at(first + timedelta(days=n), hour), code, v) for n, v in enumerate(values)]


def history(*measurements: list[Measurement] | Measurement, **kwargs: object) -> PatientHistory:
    flat: list[Measurement] = []
    for item in measurements:
        flat.extend(item if isinstance(item, list) else [item])
    return PatientHistory(zone=kwargs.pop("zone", LONDON), measurements=tuple(flat), **kwargs)  # type: ignore[arg-type]


def baseline(code: str, value: float, day: date = MONDAY - timedelta(days=20)) -> Measurement:
    return Measurement(at(day, 10), code, value)


def fired(hist: PatientHistory, now: datetime, rules: EscalationRules = RULES) -> dict[str, RuleHit]:
    return {hit.rule: hit for hit in evaluate(rules, hist, now)}


def rules_with(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "dialogs" / "escalation.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path, path.read_text(encoding="utf-8")


def line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


NOW = at(MONDAY + timedelta(days=2), 21)  # the evening of the third day


# ------------------------------------------------------------------ pain worse than baseline

@pytest.mark.parametrize(("usual", "threshold"), [(0, 1), (1, 2), (4, 5), (5, 7), (7, 9), (8, 10), (9, 10)])
def test_pain_worse_by_its_baseline_bands_meaningful_change_for_3_days_reaches_a_coach(
        usual: float, threshold: float) -> None:
    base = baseline("pain_baseline", usual)
    assert "pain_worse" in fired(history(base, series("pain_now", [threshold] * 3)), NOW)
    assert "pain_worse" not in fired(history(base, series("pain_now", [threshold - 1] * 3)), NOW)
    assert "pain_worse" not in fired(history(base, series("pain_now", [threshold, threshold])),
                                     NOW - timedelta(days=1))
    assert "pain_worse" not in fired(history(base, series("pain_now", [threshold, threshold, threshold - 1])),
                                     NOW)


def test_pain_10_on_three_days_at_a_baseline_of_10_reaches_a_coach() -> None:
    """A change from a baseline of 10 can never happen; the absolute floor still fires."""
    hits = fired(history(baseline("pain_baseline", 10), series("pain_now", [10, 10, 10])), NOW)
    assert set(hits) == {"pain_floor"}
    assert hits["pain_floor"].tier == "soon"
    assert "whatever the usual level" in hits["pain_floor"].reason


# ------------------------------------------------------------------ absolute floors

def test_pain_9_on_three_of_the_last_five_days_reaches_a_coach_and_two_days_do_not() -> None:
    usual = baseline("pain_baseline", 10)
    assert "pain_floor" in fired(history(usual, series("pain_now", [9, 9, 9])), NOW)
    assert "pain_floor" in fired(history(usual, series("pain_now", [9, 3, 9, 2, 9])), NOW + timedelta(days=2))
    assert "pain_floor" not in fired(history(usual, series("pain_now", [8, 9, 9])), NOW)
    assert "pain_floor" not in fired(history(usual, series("pain_now", [8.9, 8.9, 8.9])), NOW)


def test_pain_floor_days_older_than_the_last_five_local_days_do_not_count() -> None:
    usual = baseline("pain_baseline", 10)
    days = series("pain_now", [9, 2, 2, 9, 9, 2])
    assert "pain_floor" in fired(history(usual, days), NOW + timedelta(days=2))  # days 0-4: three 9s
    assert "pain_floor" not in fired(history(usual, days), NOW + timedelta(days=3))  # days 1-5: two


def test_mood_0_for_three_days_at_a_baseline_of_0_reaches_a_coach() -> None:
    hits = fired(history(baseline("mood_baseline", 0), series("mood_now", [0, 0, 0])), NOW)
    assert set(hits) == {"mood_floor"}
    assert "mood_floor" in fired(history(baseline("mood_baseline", 0), series("mood_now", [1, 1, 1])), NOW)
    usual = baseline("mood_baseline", 0)
    assert "mood_floor" not in fired(history(usual, series("mood_now", [2, 1, 1])), NOW)


def test_with_no_baseline_only_the_absolute_floors_fire() -> None:
    hits = fired(history(series("pain_now", [10, 10, 10]), series("mood_now", [0, 0, 0])), NOW)
    assert set(hits) == {"pain_floor", "mood_floor"}
    assert fired(history(series("pain_now", [8, 8, 8]), series("mood_now", [2, 2, 2])), NOW) == {}


def test_a_floor_stays_quiet_while_the_baseline_rule_that_says_the_same_holds_or_is_open() -> None:
    """One card, not two: pain 9 at a usual 6 is pain_worse's; once that is open the floor waits."""
    hits = fired(history(baseline("pain_baseline", 6), series("pain_now", [9, 9, 9])), NOW)
    assert "pain_worse" in hits and "pain_floor" not in hits
    still_open = (EscalationState("pain_worse", "acknowledged", at(MONDAY)),)
    at_ten = history(baseline("pain_baseline", 10), series("pain_now", [9, 9, 9]), escalations=still_open)
    assert "pain_floor" not in fired(at_ten, NOW)
    resolved = (EscalationState("pain_worse", "resolved", at(MONDAY - timedelta(days=9)),
                                at(MONDAY - timedelta(days=8))),)
    assert "pain_floor" in fired(history(baseline("pain_baseline", 10), series("pain_now", [9, 9, 9]),
                                         escalations=resolved), NOW)


# ------------------------------------------------------------------ same-day replies, severity

def test_a_single_mood_of_0_is_answered_with_kindness_and_the_resources_and_1_is_not() -> None:
    said = replies_for(RULES, [("mood_now", 0)])
    assert len(said) == 1 and "116 123" in said[0] and "999" in said[0] and "sorry" in said[0]
    assert replies_for(RULES, [("mood_now", 1)]) == []
    assert replies_for(RULES, [("pain_now", 0)]) == []
    assert replies_for(RULES, [("mood_now", True), ("mood_now", float("nan"))]) == []


def test_a_worse_statement_ranks_by_tier_then_severity() -> None:
    assert stronger("urgent", 3, "urgent", 1) == 1
    assert stronger("urgent", 1, "urgent", 3) == -1
    assert stronger("urgent", 0, "soon", 9) == 1
    assert stronger("soon", 2, "soon", 2) == 0


def test_the_dialogs_rank_thoughts_below_a_plan_below_the_means_below_self_harm_and_overdose(
        library: DialogLibrary) -> None:
    severity = {(name, state_name): action.escalate.severity
                for name, script in library.scripts.items() for state_name, state in script.states.items()
                for action in state.actions
                if action.escalate is not None and action.escalate.rule == "crisis"}
    crisis = [severity[("crisis", state)] for state in ("resources", "means_no", "danger_now")]
    assert crisis[0] < crisis[1] < crisis[2]
    others = [v for (name, _), v in severity.items() if name in ("overdose", "self_harm")]
    assert others and min(others) > max(crisis)


@pytest.mark.parametrize(("written", "expected"), [("high", "expected a whole number"),
                                                   ("-2", "greater than or equal to 0")])
def test_an_escalate_action_severity_that_is_not_a_whole_number_from_0_is_refused_with_its_line(
        tmp_path: Path, written: str, expected: str) -> None:
    copy = tmp_path / "dialogs"
    shutil.copytree(DIALOGS, copy)
    crisis = copy / "crisis.yaml"
    text = crisis.read_text(encoding="utf-8").replace("severity: 3 ", f"severity: {written} ")
    crisis.write_text(text, encoding="utf-8")
    said = [str(p) for p in check_path(copy)]
    assert len(said) == 1 and expected in said[0], said
    assert said[0].startswith(f"dialogs/crisis.yaml:{line_of(text, f'severity: {written} ')}: ")


def test_an_acknowledged_urgent_escalation_must_be_resolved_within_24_hours_and_others_need_not() -> None:
    acknowledged = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert resolution_deadline("urgent", acknowledged, RULES) == acknowledged + timedelta(hours=24)
    assert resolution_deadline("soon", acknowledged, RULES) is None


def test_pain_rule_hit_says_why_with_values_dates_and_baseline() -> None:
    hit = fired(history(baseline("pain_baseline", 3), series("pain_now", [5, 6, 5])), NOW)["pain_worse"]
    assert hit.tier == "soon"
    assert "2026-02-02: 5, 2026-02-03: 6, 2026-02-04: 5" in hit.reason
    assert hit.evidence["baseline"] == 3 and hit.evidence["threshold"] == 4
    assert [v["value"] for v in hit.evidence["values"]] == [5, 6, 5]  # type: ignore[attr-defined]


def test_days_without_a_pain_answer_neither_count_nor_break_the_run() -> None:
    pain = series("pain_now", [6, 6]) + series("pain_now", [6], first=MONDAY + timedelta(days=4))
    now = at(MONDAY + timedelta(days=4), 21)
    assert "pain_worse" in fired(history(baseline("pain_baseline", 3), pain), now)


def test_pain_days_must_fall_within_the_rule_window() -> None:
    pain = series("pain_now", [6]) + series("pain_now", [6, 6], first=MONDAY + timedelta(days=6))
    now = at(MONDAY + timedelta(days=7), 21)  # the first day is 7 days back: outside "the last 7 days"
    assert "pain_worse" not in fired(history(baseline("pain_baseline", 3), pain), now)


def test_a_coachs_rebased_baseline_wins_over_the_onboarding_answer() -> None:
    pain = series("pain_now", [6, 6, 6])
    assert "pain_worse" in fired(history(baseline("pain_baseline", 3), pain), NOW)
    rebased = history(baseline("pain_baseline", 3), pain, baselines={"pain_now": 5})
    assert "pain_worse" not in fired(rebased, NOW)  # 5 -> meaningful change 2 -> threshold 7
    restated = history(baseline("pain_baseline", 3), baseline("pain_baseline", 5, MONDAY - timedelta(days=1)),
                       pain)
    assert "pain_worse" not in fired(restated, NOW)  # the latest stored baseline is used


def test_no_baseline_keeps_the_baseline_rules_quiet() -> None:
    hits = fired(history(series("pain_now", [10, 10, 10]), series("mood_now", [0, 0, 0])), NOW)
    assert "pain_worse" not in hits and "mood_low" not in hits


# ------------------------------------------------------------------ PEG, PHQ-2, mood

def test_peg_30_percent_above_the_first_weekly_review_reaches_a_coach_and_29_does_not() -> None:
    first = Measurement(at(MONDAY - timedelta(days=7)), "peg_score", 5.0)
    assert "peg_worse" in fired(history(first, Measurement(at(MONDAY), "peg_score", 6.5)), NOW)
    assert "peg_worse" not in fired(history(first, Measurement(at(MONDAY), "peg_score", 6.45)), NOW)
    assert "peg_worse" not in fired(history(first), NOW)


def test_peg_rise_needs_a_whole_point_at_a_tiny_baseline_and_a_recent_peg() -> None:
    first = Measurement(at(MONDAY - timedelta(days=21)), "peg_score", 1.0)
    assert "peg_worse" not in fired(history(first, Measurement(at(MONDAY), "peg_score", 1.7)), NOW)
    assert "peg_worse" in fired(history(first, Measurement(at(MONDAY), "peg_score", 2.0)), NOW)
    stale = Measurement(at(NOW.date() - timedelta(days=14)), "peg_score", 9.0)
    assert "peg_worse" not in fired(history(first, stale), NOW)


def test_peg_can_wait_for_two_weekly_reviews_in_a_row(tmp_path: Path) -> None:
    path, _ = rules_with(tmp_path, "    readings: 1\n", "    readings: 2\n")
    rules = load_escalation_rules(path)
    pegs = [Measurement(at(MONDAY - timedelta(days=d)), "peg_score", v) for d, v in ((14, 5), (7, 5), (0, 7))]
    assert "peg_worse" not in fired(history(pegs), NOW, rules)
    pegs[1] = Measurement(at(MONDAY - timedelta(days=7)), "peg_score", 7)
    assert "peg_worse" in fired(history(pegs), NOW, rules)


def test_phq2_of_3_reaches_a_coach_and_2_does_not() -> None:
    assert fired(history(Measurement(at(MONDAY), "phq2_total", 3)), NOW)["phq2_positive"].tier == "soon"
    assert "phq2_positive" not in fired(history(Measurement(at(MONDAY), "phq2_total", 2)), NOW)
    old = Measurement(at(NOW.date() - timedelta(days=14)), "phq2_total", 6)
    assert "phq2_positive" not in fired(history(old), NOW)
    assert "phq2_positive" not in fired(history(Measurement(at(MONDAY), "phq2_total", 4),
                                                Measurement(at(MONDAY, 20), "phq2_total", 2)), NOW)


def test_mood_2_below_usual_for_3_days_reaches_a_coach_and_a_drop_of_1_does_not() -> None:
    usual = baseline("mood_baseline", 6)
    assert fired(history(usual, series("mood_now", [4, 3, 4])), NOW)["mood_low"].tier == "soon"
    assert "mood_low" not in fired(history(usual, series("mood_now", [5, 5, 5])), NOW)
    assert "mood_low" not in fired(history(usual, series("mood_now", [4, 4, 5])), NOW)
    assert "mood_low" not in fired(history(usual, series("mood_now", [4, 4])), NOW - timedelta(days=1))


def test_mood_is_compared_with_the_usual_level_not_with_three_days_before() -> None:
    """A good day followed by ordinary ones is not a decline; a drop from usual that stays is."""
    usual = baseline("mood_baseline", 5)
    assert "mood_low" not in fired(history(usual, series("mood_now", [8, 5, 5, 5])), NOW + timedelta(days=1))
    assert "mood_low" in fired(history(usual, series("mood_now", [3, 3, 3])), NOW)


# ------------------------------------------------------------------ missed check-ins

def checkins(*outcomes: str) -> dict[date, str]:
    return {MONDAY + timedelta(days=n): o for n, o in enumerate(outcomes)}


def test_three_missed_check_ins_in_a_row_reach_a_coach_and_two_do_not() -> None:
    hit = fired(history(checkins=checkins("answered", "missed", "missed", "missed")), NOW + timedelta(days=1))
    assert hit["checkins_missed"].tier == "routine"
    assert hit["checkins_missed"].evidence["missed"] == ["2026-02-03", "2026-02-04", "2026-02-05"]
    assert fired(history(checkins=checkins("answered", "missed", "missed")), NOW) == {}
    gap = checkins("missed", "answered", "missed", "missed")
    assert fired(history(checkins=gap), NOW + timedelta(days=1)) == {}


def test_check_ins_on_days_after_now_do_not_count() -> None:
    assert fired(history(checkins=checkins("missed", "missed", "missed")), NOW - timedelta(days=1)) == {}


# ------------------------------------------------------------------ local days, midnight and DST

def test_a_day_is_the_patients_local_date_not_the_utc_date() -> None:
    """In Auckland (UTC+13 in January), 10:00 and 12:00 UTC on the same date are 23:00 on one local
    day and 01:00 on the next."""
    auckland = ZoneInfo("Pacific/Auckland")
    pain = [Measurement(datetime(2026, 1, 5, h, tzinfo=UTC), "pain_now", 7) for h in (10, 12)]
    pain.append(Measurement(datetime(2026, 1, 6, 12, tzinfo=UTC), "pain_now", 7))
    hist = history(baseline("pain_baseline", 3, date(2025, 12, 1)), pain, zone=auckland)
    assert "pain_worse" in fired(hist, datetime(2026, 1, 6, 20, tzinfo=UTC))
    hist_utc = history(baseline("pain_baseline", 3, date(2025, 12, 1)), pain, zone=UTC)
    assert "pain_worse" not in fired(hist_utc, datetime(2026, 1, 6, 20, tzinfo=UTC))


def test_two_answers_either_side_of_local_midnight_are_two_days_and_the_latest_of_a_day_stands() -> None:
    base = baseline("pain_baseline", 3)
    late = [Measurement(at(MONDAY, 23, 50), "pain_now", 6), Measurement(at(MONDAY + timedelta(days=1), 0, 10),
                                                                        "pain_now", 6)]
    third = Measurement(at(MONDAY + timedelta(days=2), 9), "pain_now", 6)
    assert "pain_worse" in fired(history(base, late, third), NOW)
    corrected = Measurement(at(MONDAY + timedelta(days=2), 20), "pain_now", 3)
    assert "pain_worse" not in fired(history(base, late, third, corrected), NOW)


def test_days_across_the_spring_clock_change_are_counted_by_local_date() -> None:
    """00:30 BST on 30 March is 23:30 UTC on the 29th: the UTC date would merge it with the 29th."""
    base = baseline("pain_baseline", 3, date(2026, 3, 1))
    pain = [Measurement(at(date(2026, 3, 28), 19), "pain_now", 6), Measurement(at(date(2026, 3, 29), 19),
                                                                               "pain_now", 6),
            Measurement(at(date(2026, 3, 30), 0, 30), "pain_now", 6)]
    assert pain[2].recorded_at.astimezone(UTC).date() == date(2026, 3, 29)
    assert "pain_worse" in fired(history(base, pain), at(date(2026, 3, 30), 9))


def test_readings_after_now_are_ignored() -> None:
    pain = series("pain_now", [6, 6, 6])
    before_the_third = at(MONDAY + timedelta(days=2), 18)
    assert "pain_worse" not in fired(history(baseline("pain_baseline", 3), pain), before_the_third)


def test_naive_times_are_refused_because_they_have_no_local_day() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Measurement(datetime(2026, 2, 2, 19), "pain_now", 6)
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(RULES, history(), datetime(2026, 2, 2, 19))


# ------------------------------------------------------------------ resolution, dedupe, evidence

def test_a_resolved_escalation_is_not_raised_again_by_the_evidence_the_coach_already_saw() -> None:
    base = baseline("pain_baseline", 3)
    resolved = EscalationState("pain_worse", "resolved", at(MONDAY + timedelta(days=2), 20),
                               at(MONDAY + timedelta(days=2), 20, 30))
    high = series("pain_now", [6, 6, 6, 6, 6])
    assert "pain_worse" not in fired(history(base, high, escalations=(resolved,)), NOW + timedelta(days=2))
    more = series("pain_now", [6, 6, 6, 6, 6, 6])
    assert "pain_worse" in fired(history(base, more, escalations=(resolved,)), NOW + timedelta(days=3))
    missed = EscalationState("checkins_missed", "resolved", at(MONDAY, 8), at(MONDAY + timedelta(days=2), 9))
    runs = checkins("missed", "missed", "missed", "missed")
    assert fired(history(checkins=runs, escalations=(missed,)), NOW + timedelta(days=1)) == {}


def test_one_escalation_per_rule_new_evidence_updates_it_and_a_repeat_changes_nothing() -> None:
    base = baseline("pain_baseline", 3)
    first = fired(history(base, series("pain_now", [6, 6, 6])), NOW)["pain_worse"]
    assert should_raise(first, open_rules=set()) and triage(first, {}) == "raise"
    assert not should_raise(first, open_rules={"pain_worse"})
    later_same_day = fired(history(base, series("pain_now", [6, 6, 6])), NOW + timedelta(hours=2))
    assert triage(later_same_day["pain_worse"], {"pain_worse": first.evidence}) == "unchanged"
    worse = fired(history(base, series("pain_now", [6, 6, 6, 8])), NOW + timedelta(days=1))["pain_worse"]
    assert triage(worse, {"pain_worse": first.evidence}) == "update"


def test_evidence_carries_the_last_14_local_days_of_pain_mood_and_check_ins_as_json() -> None:
    hist = history(baseline("pain_baseline", 3), baseline("mood_baseline", 6), series("pain_now", [6, 6, 6]),
                   series("mood_now", [5, 4]), checkins=checkins("answered", "answered", "missed"))
    evidence = fired(hist, NOW)["pain_worse"].evidence
    assert json.loads(json.dumps(evidence)) == evidence
    days = cast(list[dict[str, object]], evidence["last_days"])
    fortnight = [(NOW.date() - timedelta(days=n)).isoformat() for n in range(13, -1, -1)]
    assert [d["date"] for d in days] == fortnight
    assert days[-1] == {"date": "2026-02-04", "pain_now": 6, "mood_now": None, "checkin": "missed"}
    assert days[-2]["mood_now"] == 4
    assert evidence["baselines"] == {"pain_now": 3, "mood_now": 6}


def test_reason_words_come_from_the_file(tmp_path: Path) -> None:
    path, _ = rules_with(tmp_path, "reason: PHQ-2 total {latest} on {date}", "reason: Screen {latest} {date}")
    hit = fired(history(Measurement(at(MONDAY), "phq2_total", 4)), NOW, load_escalation_rules(path))
    assert hit["phq2_positive"].reason.startswith("Screen 4 2026-02-02 (a positive screen")


# ------------------------------------------------------------------ deadlines and re-alerts

FRIDAY = date(2026, 2, 6)


@pytest.mark.parametrize(("opened", "tier", "due"), [
    (at(FRIDAY, 16, 30), "soon", at(FRIDAY + timedelta(days=3), 16, 30)),   # Friday afternoon -> Monday
    (at(FRIDAY + timedelta(days=1), 12), "soon", at(FRIDAY + timedelta(days=3), 17)),  # Saturday
    (at(FRIDAY + timedelta(days=2), 23), "soon", at(FRIDAY + timedelta(days=3), 17)),  # Sunday night
    (at(MONDAY + timedelta(days=1), 8), "soon", at(MONDAY + timedelta(days=1), 17)),  # before hours
    (at(FRIDAY, 9), "soon", at(FRIDAY, 17)),                                # a full day closes the same day
    (at(FRIDAY - timedelta(days=1), 10), "routine", at(FRIDAY + timedelta(days=3), 10)),  # Thursday
    (at(FRIDAY + timedelta(days=1), 3), "urgent", at(FRIDAY + timedelta(days=1), 4)),  # Saturday night
    (at(date(2026, 3, 27), 16, 30), "soon", at(date(2026, 3, 30), 16, 30)),  # across the clock change
])
def test_acknowledgement_deadlines_count_working_hours_except_urgent(opened: datetime, tier: str,
                                                                     due: datetime) -> None:
    assert deadline_for(tier, opened, RULES) == due  # type: ignore[arg-type]


def test_urgent_deadline_is_60_real_minutes_even_when_the_clocks_go_forward() -> None:
    opened = datetime(2026, 3, 29, 0, 30, tzinfo=LONDON)  # GMT; at 01:00 GMT clocks jump to 02:00 BST
    due = deadline_for("urgent", opened, RULES)
    assert due.tzinfo == UTC and due - opened.astimezone(UTC) == timedelta(minutes=60)
    assert due.astimezone(LONDON).time() == time(2, 30)


def test_bank_holidays_in_closed_dates_do_not_count(tmp_path: Path) -> None:
    path, _ = rules_with(tmp_path, "closed_dates: []", 'closed_dates: ["2026-02-09", 2026-02-10]')
    rules = load_escalation_rules(path)
    assert deadline_for("soon", at(FRIDAY, 16, 30), rules) == at(date(2026, 2, 11), 16, 30)


def test_urgent_is_re_sent_to_the_backup_at_60_minutes_then_every_30_until_acknowledged() -> None:
    opened = at(FRIDAY, 22)
    assert realert_times("urgent", opened, opened + timedelta(minutes=130), RULES) == [
        opened + timedelta(minutes=m) for m in (60, 90, 120)]
    assert next_realert("urgent", opened, opened, RULES) == opened + timedelta(minutes=60)
    for after in (90, 95, 119):
        assert next_realert("urgent", opened, opened + timedelta(minutes=after), RULES) == (
            opened + timedelta(minutes=120))


def test_soon_and_routine_are_re_sent_once_at_their_deadline() -> None:
    opened = at(FRIDAY, 16, 30)
    due = deadline_for("soon", opened, RULES)
    assert realert_times("soon", opened, due + timedelta(days=30), RULES) == [due]
    assert next_realert("soon", opened, opened, RULES) == due
    assert next_realert("soon", opened, due, RULES) is None


def test_the_patient_is_told_when_to_expect_contact_in_words_from_the_file() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    for tier in ("urgent", "soon", "routine"):
        sentence = expect_contact(tier, RULES)
        assert sentence and sentence.split(".")[0] in text


def test_working_time_helpers() -> None:
    hours = RULES.hours
    assert is_working_time(at(FRIDAY, 9), hours) and not is_working_time(at(FRIDAY, 17), hours)
    assert not is_working_time(at(FRIDAY + timedelta(days=1), 12), hours)
    assert add_working_time(at(FRIDAY, 16, 30), timedelta(minutes=30), hours) == at(FRIDAY, 17)
    assert add_working_time(at(FRIDAY, 18), timedelta(0), hours) == at(FRIDAY + timedelta(days=3), 9)
    with pytest.raises(ValueError, match="end after"):
        WorkingHours(LONDON, frozenset({0}), time(17), time(9))


# ------------------------------------------------------------------ the file

def test_shipped_escalation_file_is_valid_and_has_every_default_rule() -> None:
    assert check_escalation_file(SHIPPED) == []
    tiers = {name: rule.tier for name, rule in RULES.rules.items()}
    assert tiers == {"crisis": "urgent", "abuse": "urgent", "red_flag_emergency": "urgent",
                     "red_flag_urgent": "soon", "leg_symptoms": "soon", "pain_worse": "soon",
                     "peg_worse": "soon",
                     "phq2_positive": "soon", "gad2_positive": "soon", "mood_low": "soon",
                     "pain_floor": "soon", "mood_floor": "soon",
                     "checkins_missed": "routine", "asks_for_person": "routine"}
    assert escalation_json_schema()["title"] == "coachbot dialogs/escalation.yaml"


def test_every_rule_the_dialogs_raise_is_declared_with_the_same_tier(library: DialogLibrary) -> None:
    raised = {action.escalate.rule: action.escalate.tier
              for script in library.scripts.values() for state in script.states.values()
              for action in state.actions if action.escalate is not None}
    assert raised and RULES.undeclared(raised) == []
    assert all(RULES.tier_of(rule, "routine") == tier for rule, tier in raised.items())


@pytest.mark.parametrize(("old", "new", "marker", "expected"), [
    ("  pain_worse:\n    tier: soon", "  pain_worse:\n    tier: sooon", "tier: sooon", "did you mean 'soon'"),
    ("    count: 3", "    count: -3", "count: -3", "count must be 1 or more"),
    ("    within_days: 14           # PHQ-2 asks about the past 2 weeks", "    within_days: -1",
     "within_days: -1", "can never hold"),
    ("    measure: phq2_total", "    measure: phq_total", "measure: phq_total",
     "there is no measure 'phq_total'"),
    ("    acknowledge_within: {working_days: 2}\n", "", "  routine:", "no acknowledge_within"),
    ("    kind: percent_rise", "    kind: percent_rises", "kind: percent_rises",
     "did you mean 'percent_rise'"),
    ("{count} check-ins", "{cuont} check-ins", "{cuont}", "{cuont}"),
    ("      - {up_to: 10, change: 3}", "      - {up_to: 9, change: 3}", "change_by_baseline:",
     "no band holds baselines above 9"),
    ("timezone: Europe/London", "timezone: Europe/Londn", "Europe/Londn", "not a time zone"),
    ('start: "09:00"', "start: 9am", "start: 9am", "not a time of day"),
    ("    acknowledge_within: {minutes: 60}", "    acknowledge_within: {working_hours: 1}",
     "{working_hours: 1}", "clock minutes"),
    ("    at_least: 3", "    at_least: 7", "at_least: 7", "runs from 0 to 6"),
    ("    days: 3                   # the latest 3", "    days: three", "days: three", "whole number"),
    ("    at: 9\n", "    at: 11\n", "at: 11", "never or always holds"),
    ("    at: 1\n", "    at: 10\n", "at: 10", "never or always holds"),
    ("    days: 3\n    of_last_days: 5\n    covered_by: [pain_worse]",
     "    days: 6\n    of_last_days: 5\n    covered_by: [pain_worse]", "days: 6",
     "cannot fit in of_last_days"),
    ("covered_by: [mood_low]", "covered_by: [mood_lo]", "covered_by: [mood_lo]",
     "there is no rule 'mood_lo'"),
    ("    at_most: 0\n", "    at_most: -1\n", "at_most: -1", "never holds"),
    ("    measure: mood_now\n    at_most: 0", "    measure: mod_now\n    at_most: 0", "measure: mod_now",
     "there is no measure 'mod_now'"),
    ("resolve_within: {minutes: 1440}", "resolve_within: {minutes: 0}", "resolve_within: {minutes: 0}",
     "minutes"),
    ("{latest} Please act", "{newest} Please act", "{newest} Please act", "{newest}"),
])
def test_each_kind_of_broken_file_is_reported_with_its_line(tmp_path: Path, old: str, new: str, marker: str,
                                                            expected: str) -> None:
    path, text = rules_with(tmp_path, old, new)
    problems = check_escalation_file(path)
    assert problems, "the broken file was accepted"
    said = [str(p) for p in problems]
    assert any(expected in s for s in said), said
    assert any(p.line == line_of(text, marker) for p in problems if expected in str(p)), said
    assert all(s.startswith("dialogs/escalation.yaml:") for s in said)
    with pytest.raises(DialogError):
        load_escalation_rules(path)


def test_a_misspelt_or_missing_tier_is_reported(tmp_path: Path) -> None:
    path, _ = rules_with(tmp_path, "  routine:\n    acknowledge", "  routine_x:\n    acknowledge")
    said = [str(p) for p in check_escalation_file(path)]
    assert any("routine_x" in s and "did you mean 'routine'" in s for s in said), said
    text = SHIPPED.read_text(encoding="utf-8")
    routine = text[text.index("  routine:\n"):text.index("\n\n", text.index("  routine:\n"))]
    path, edited = rules_with(tmp_path, routine, "")
    problems = check_escalation_file(path)
    assert [p.line for p in problems if "the routine tier has no settings" in p.message] == [
        line_of(edited, "tiers:")]


def test_an_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    assert check_escalation_file(tmp_path / "escalation.yaml")[0].message.startswith("cannot be read")
    path, _ = rules_with(tmp_path, "version: 1", "version: 1\n  bad: [")
    assert check_escalation_file(path)


# ------------------------------------------------------------------ property

CODES = ["pain_now", "mood_now", "peg_score", "phq2_total", "pain_baseline", "mood_baseline", "other"]
ZONES = [ZoneInfo(z) for z in ("Europe/London", "Pacific/Auckland", "America/St_Johns", "UTC")]
T0 = datetime(2026, 3, 20, tzinfo=UTC)
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 15).map(float))
OFFSETS = st.integers(-40 * 24 * 60, 20 * 24 * 60).map(lambda m: T0 + timedelta(minutes=m))


@st.composite
def histories(draw: st.DrawFn) -> tuple[PatientHistory, datetime]:
    """Any mix of measurements (unknown codes, NaN, infinities, out-of-range values), check-ins,
    explicit baselines and resolved escalations, in any zone, judged at any time."""
    measurement = st.builds(Measurement, OFFSETS, st.sampled_from(CODES), VALUES)
    measurements = draw(st.lists(measurement, max_size=40))
    runs = draw(st.dictionaries(st.dates(date(2026, 2, 1), date(2026, 4, 30)),
                                st.sampled_from(["answered", "missed"]), max_size=30))
    measures, rules = ["pain_now", "mood_now", "peg_score"], ["pain_worse", "mood_low", "checkins_missed"]
    baselines = draw(st.dictionaries(st.sampled_from(measures), VALUES, max_size=3))
    resolved = draw(st.lists(st.tuples(st.sampled_from(rules), OFFSETS), max_size=3))
    escalations = tuple(EscalationState(rule, "resolved", t, t) for rule, t in resolved)
    zone = draw(st.sampled_from(ZONES))
    return PatientHistory(zone, tuple(measurements), runs, baselines, escalations), draw(OFFSETS)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=histories())
def test_evaluate_never_raises_and_all_evidence_is_json(case: tuple[PatientHistory, datetime]) -> None:
    hist, now = case
    hits = evaluate(RULES, hist, now)
    for hit in hits:
        text = json.dumps(hit.evidence, allow_nan=False)
        assert json.loads(text) == hit.evidence
        assert hit.tier == RULES.rules[hit.rule].tier and hit.reason
        assert triage(hit, {hit.rule: hit.evidence}) == "unchanged"
    assert len({h.rule for h in hits}) == len(hits)
