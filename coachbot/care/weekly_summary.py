"""The weekly summary: a patient's last weeks in plain words, and the data for its chart.

Pure: measurements and step feedback in, text and chart data out; the chart image is drawn by
`coachbot.adapters.charts` so that the clinical core never imports matplotlib. Every word the patient
reads comes from `dialogs/summary.yaml`, so admins can change the tone without a developer; the code
only chooses which sentence fits (lower, about the same, higher) and fills in the numbers.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from coachbot.care.step_policy import PastSuggestion
from coachbot.care.steps_library import StepLibrary
from coachbot.spec.problems import DialogError, Problem
from coachbot.spec.schema import load_checked_file
from coachbot.spec.yaml_source import YamlDocument


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckinWords(_Strict):
    all: str
    some: str
    none: str


class ChangeWords(_Strict):
    """For pain "lower" is the good news, for mood "higher": each has its own sentences."""

    lower: str
    same: str
    higher: str
    first: str = Field(description="when there is no week before to compare with")


class HelpfulWords(_Strict):
    some: str
    none: str


class SummaryWords(_Strict):
    same_within: float = Field(default=1.0, gt=0, le=10)
    opening: str
    checkins: CheckinWords
    pain: ChangeWords
    mood: ChangeWords
    helpful: HelpfulWords
    step_title: str = Field(default="{title}", description="how each helpful step is shown in the list")
    list_and: str = " and "
    closing: str


class ChartLabels(_Strict):
    title: str
    pain: str
    mood: str
    done: str
    missed: str
    scale: str
    better: str = Field(default="", description="which way is better (lower pain, higher mood), on the chart")


class SummaryTexts(_Strict):
    """`dialogs/summary.yaml`."""

    summary: SummaryWords
    chart: ChartLabels


PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "summary.opening": frozenset({"name"}), "summary.checkins": frozenset({"done", "days"}),
    "summary.pain": frozenset({"now", "before"}), "summary.mood": frozenset({"now", "before"}),
    "summary.helpful": frozenset({"steps"}), "summary.step_title": frozenset({"title"}),
    "summary.closing": frozenset({"weeks", "days"}),
    "chart.title": frozenset({"weeks", "days"})}
"""What each sentence may use; anything else would show the patient a raw `{brace}`."""


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


def load_summary_texts(path: Path) -> SummaryTexts:
    """The summary's words; raises DialogError listing every problem in the file."""
    texts, problems = _load(path)
    if problems or texts is None:
        raise DialogError(problems)
    return texts


def check_summary_file(path: Path) -> list[Problem]:
    return _load(path)[1]


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


def _load(path: Path) -> tuple[SummaryTexts | None, list[Problem]]:
    return load_checked_file(path, SummaryTexts, _placeholder_problems)


def _placeholder_problems(doc: YamlDocument, texts: SummaryTexts) -> Iterator[Problem]:
    for where, allowed in PLACEHOLDERS.items():
        section, key = where.split(".")
        node = getattr(getattr(texts, section), key)
        sentences = node.model_dump() if isinstance(node, BaseModel) else {"": node}
        for sub, text in sentences.items():
            loc = (section, key, sub) if sub else (section, key)
            fix = (f"use only {', '.join('{' + a + '}' for a in sorted(allowed))}, "
                   "or write {{ and }} for a literal brace.")
            try:
                used = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
            except ValueError:
                yield Problem(doc.label, doc.line_of(loc), None, ".".join(loc),
                              "a { or } is not closed, so the sentence cannot be filled in.", fix)
                continue
            for name in used:
                if name not in allowed:
                    yield Problem(doc.label, doc.line_of(loc), None, ".".join(loc),
                                  f"{{{name}}} is not filled in here, so the patient would see it as it is.",
                                  fix)
