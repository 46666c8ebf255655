"""The usual level every pain and mood rule is judged against: the usual pain (or mood) over the past
week asked at onboarding, then the median of it and the first 4 daily answers, so one unusual day
does not set the level; a worsening in the first days is still judged against the usual answer."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from coachbot.care.escalation_rules import (
    Measurement,
    PatientHistory,
    evaluate,
    load_escalation_rules,
    recent_days,
)

RULES = load_escalation_rules(Path(__file__).resolve().parents[2] / "dialogs" / "escalation.yaml")
LONDON = ZoneInfo("Europe/London")
JOINED = date(2026, 2, 2)


def at(day: date, hour: int = 19) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON)


def daily(code: str, values: list[float], first: date) -> list[Measurement]:
    return [Measurement(at(first + timedelta(days=n)), code, v) for n, v in enumerate(values)]


def baselines(*measurements: Measurement, now: datetime) -> dict[str, object]:
    history = PatientHistory(zone=LONDON, measurements=measurements)
    return recent_days(RULES, history, now)["baselines"]  # type: ignore[return-value]


def test_the_baseline_is_the_median_of_usual_pain_and_the_first_four_daily_answers() -> None:
    usual = Measurement(at(JOINED, 10), "pain_usual", 8)  # a bad day at onboarding
    pain = daily("pain_now", [4, 5, 4, 6, 9, 9], JOINED + timedelta(days=1))
    got = baselines(usual, *pain, now=at(JOINED + timedelta(days=8), 21))
    assert got["pain_now"] == 5  # median of 8, 4, 5, 4, 6: the fifth and sixth days are not baseline


def test_until_four_daily_answers_are_in_the_usual_answer_alone_is_the_baseline() -> None:
    usual = Measurement(at(JOINED, 10), "pain_usual", 3)
    pain = daily("pain_now", [6, 6, 6], JOINED + timedelta(days=1))
    now = at(JOINED + timedelta(days=3), 21)
    assert baselines(usual, *pain, now=now)["pain_now"] == 3
    hits = {h.rule for h in evaluate(RULES, PatientHistory(zone=LONDON, measurements=(usual, *pain)), now)}
    assert "pain_worse" in hits  # early worsening reaches a coach, not hidden in the median


def test_daily_answers_more_than_a_week_after_onboarding_are_not_baseline() -> None:
    usual = Measurement(at(JOINED, 10), "mood_usual", 6)
    mood = daily("mood_now", [2, 2, 2, 2], JOINED + timedelta(days=7))
    assert baselines(usual, *mood, now=at(JOINED + timedelta(days=11), 21))["mood_now"] == 6


def test_patients_onboarded_before_usual_pain_was_asked_keep_their_old_baseline() -> None:
    old = Measurement(at(JOINED, 10), "pain_baseline", 4)
    pain = daily("pain_now", [6, 6, 6, 6], JOINED + timedelta(days=1))
    assert baselines(old, *pain, now=at(JOINED + timedelta(days=5), 21))["pain_now"] == 6  # median 4,6,6,6,6
    assert baselines(old, now=at(JOINED + timedelta(days=5), 21))["pain_now"] == 4
