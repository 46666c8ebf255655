"""The weekly summary: a patient's last weeks in plain words, and the data for its chart.

Pure: measurements and step feedback in, text and chart data out; the chart image is drawn by
`coachbot.adapters.charts` so that the clinical core never imports matplotlib. Every word the patient
reads comes from `dialogs/summary.yaml`, so admins can change the tone without a developer; the code
only chooses which sentence fits (lower, about the same, higher) and fills in the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from coachbot.care.step_policy import PastSuggestion
from coachbot.spec.steps import StepLibrary
from coachbot.spec.summary_texts import ChangeWords, ChartLabels, SummaryTexts


@dataclass(frozen=True)
class DayRecord:
    """One patient-local day: the day's pain and mood (None when not answered)."""

    day: date
    pain: float | None = None
    mood: float | None = None
    checked_in: bool = False


@dataclass(frozen=True)
class ChartData:
    days: tuple[date, ...]
    pain: tuple[float | None, ...]
    mood: tuple[float | None, ...]
    checked_in: tuple[bool, ...]
    title: str
    labels: ChartLabels


@dataclass(frozen=True)
class WeeklySummary:
    text: str
    chart: ChartData


def daily_records(points: Iterable[tuple[datetime, str, float]], first: date, last: date,
                  zone: tzinfo) -> list[DayRecord]:
    """Measurements (when, code, value) as one record per patient-local day from `first` to `last`:
    the day's last pain_now and mood_now; a day counts as checked in when either was answered."""
    latest: dict[tuple[date, str], tuple[datetime, float]] = {}
    for at, code, value in points:
        key = (at.astimezone(zone).date(), code)
        if code in ("pain_now", "mood_now") and (key not in latest or latest[key][0] <= at):
            latest[key] = (at, value)
    records = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        pain, mood = latest.get((day, "pain_now")), latest.get((day, "mood_now"))
        records.append(DayRecord(day, pain[1] if pain else None, mood[1] if mood else None,
                                 pain is not None or mood is not None))
    return records


def helpful_titles(library: StepLibrary, history: Iterable[PastSuggestion], since: datetime) -> list[str]:
    """Titles of the steps marked "helped" since `since`, most often helpful first."""
    counts: dict[str, int] = {}
    for h in history:
        if h.feedback == "helped" and h.suggested_at >= since and library.get(h.step_id) is not None:
            counts[h.step_id] = counts.get(h.step_id, 0) + 1
    ranked = sorted(counts, key=lambda step_id: -counts[step_id])
    return [step.title for step_id in ranked if (step := library.get(step_id)) is not None]


def build_summary(texts: SummaryTexts, name: str, days: Sequence[DayRecord],
                  helpful: Sequence[str]) -> WeeklySummary:
    """The summary for `days` (chronological, ending on the review day): the last 7 days compared
    with the 7 before, check-ins done this week, the helpful steps, and the chart's data."""
    words = texts.summary
    this_week, week_before = days[-7:], days[-14:-7]
    done = sum(d.checked_in for d in this_week)
    weeks = max(1, math.ceil(len(days) / 7))
    checkins = (words.checkins.all if done == len(this_week) and done else
                words.checkins.some if done else words.checkins.none)
    lines = [words.opening.format(name=name), checkins.format(done=done, days=len(this_week))]
    for key in ("pain", "mood"):
        change = _change_sentence(getattr(words, key), this_week, week_before, key, words.same_within)
        if change:
            lines.append(change)
    if helpful:
        shown = [words.step_title.format(title=title) for title in helpful]
        lines.append(words.helpful.some.format(steps=_join(shown, words.list_and)))
    else:
        lines.append(words.helpful.none)
    lines.append(words.closing.format(weeks=weeks, days=len(days)))
    chart = ChartData(tuple(d.day for d in days), tuple(d.pain for d in days), tuple(d.mood for d in days),
                      tuple(d.checked_in for d in days),
                      texts.chart.title.format(weeks=weeks, days=len(days)), texts.chart)
    return WeeklySummary("\n\n".join(lines), chart)


def _change_sentence(said: ChangeWords, this_week: Sequence[DayRecord], week_before: Sequence[DayRecord],
                     key: str, same_within: float) -> str | None:
    now, before = _mean(this_week, key), _mean(week_before, key)
    if now is None:
        return None
    if before is None:
        return said.first.format(now=_num(now))
    sentence = said.same if abs(now - before) < same_within else said.lower if now < before else said.higher
    return sentence.format(now=_num(now), before=_num(before))


def _mean(days: Sequence[DayRecord], key: str) -> float | None:
    values = [v for d in days if (v := getattr(d, key)) is not None]
    return sum(values) / len(values) if values else None


def _num(value: float) -> str:
    """One decimal at most, and none when it is whole: "4" or "4.5", never "4.0"."""
    return f"{round(value, 1):g}"


def _join(items: Sequence[str], last: str) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]
