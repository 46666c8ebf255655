"""`dialogs/summary.yaml`: every word of the weekly summary and its chart, and what each may fill in.

Admins change the tone without a developer; the checks make sure each sentence uses only the
`{placeholders}` `coachbot.care.weekly_summary` fills in, so a typo is a problem with file, line and
fix when the files load, never a raw `{brace}` in a patient's chat.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import BaseModel, Field

from coachbot.spec.problems import DialogError, Problem
from coachbot.spec.schema import load_checked_file
from coachbot.spec.strict import StrictModel
from coachbot.spec.yaml_source import YamlDocument


class CheckinWords(StrictModel):
    all: str
    some: str
    none: str


class ChangeWords(StrictModel):
    """For pain "lower" is the good news, for mood "higher": each has its own sentences."""

    lower: str
    same: str
    higher: str
    first: str = Field(description="when there is no week before to compare with")


class HelpfulWords(StrictModel):
    some: str
    none: str


class SummaryWords(StrictModel):
    same_within: float = Field(default=1.0, gt=0, le=10)
    opening: str
    checkins: CheckinWords
    pain: ChangeWords
    mood: ChangeWords
    helpful: HelpfulWords
    step_title: str = Field(default="{title}", description="how each helpful step is shown in the list")
    list_and: str = " and "
    closing: str


class ChartLabels(StrictModel):
    title: str
    pain: str
    mood: str
    done: str
    missed: str
    scale: str
    better: str = Field(default="", description="which way is better (lower pain, higher mood), on the chart")


class SummaryTexts(StrictModel):
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


def load_summary_texts(path: Path) -> SummaryTexts:
    """The summary's words; raises DialogError listing every problem in the file."""
    texts, problems = _load(path)
    if problems or texts is None:
        raise DialogError(problems)
    return texts


def check_summary_file(path: Path) -> list[Problem]:
    return _load(path)[1]


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
