"""`dialogs/self_management.yaml`: the words around flare-ups, /steps, the weekly summary's extras and
the coach's /pin and /block replies, checked like the other dialog files.

Pure: pydantic models and a placeholder check. Each sentence may use only the `{names}` listed in
PLACEHOLDERS; a typo such as `{lable}` is a problem with file, line and fix when the files load, not
a raw brace in a patient's chat.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from pathlib import Path

from coachbot.spec.problems import DialogError, Problem
from coachbot.spec.schema import load_checked_file
from coachbot.spec.strict import StrictModel
from coachbot.spec.yaml_source import YamlDocument

FILE_NAME = "self_management.yaml"


class FlareWords(StrictModel):
    started: str
    started_earlier: str
    plan_intro: str
    plan_helps: str
    plan_avoid: str
    plan_tell: str
    plan_seek_help: str
    reassurance: str
    """Said with a new flare-up only when no leg symptom or red flag is open (it would contradict them)."""
    general_advice: str
    advice_movement: str
    """Gated like an exercise step: never with new leg weakness, numbness or tingling."""
    advice_warmth: str
    """Gated like a heat step: never with numb skin."""
    no_plan_offer: str
    safety: str
    short_checkins: str
    settled: str
    timed_out: str


class StepsWords(StrictModel):
    heading: str
    item: str
    none: str
    not_found: str
    different_button: str
    different_hint: str
    no_more_today: str
    nothing_to_swap: str


class WeeklyWords(StrictModel):
    no_plan_offer: str
    chart_caption: str


class CoachWords(StrictModel):
    pinned: str
    blocked: str
    unpinned: str
    unblocked: str
    not_set: str
    usage: str
    no_patient: str
    no_step: str


class SelfManagementTexts(StrictModel):
    flare: FlareWords
    steps: StepsWords
    weekly: WeeklyWords
    coach: CoachWords


_PLAN = frozenset({"text"})
_COACH = frozenset({"label", "step", "title"})
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "flare.started": frozenset({"now", "before"}),
    "flare.started_earlier": frozenset({"now", "before"}),
    "flare.plan_helps": _PLAN, "flare.plan_avoid": _PLAN, "flare.plan_tell": _PLAN,
    "flare.plan_seek_help": _PLAN,
    "steps.item": frozenset({"number", "title"}),
    "weekly.chart_caption": frozenset({"weeks"}),
    **{f"coach.{key}": _COACH for key in CoachWords.model_fields},
}
"""What each sentence may use; every other sentence uses none."""


def load_texts(path: Path) -> SelfManagementTexts:
    """The words; raises DialogError listing every problem in the file."""
    texts, problems = _load(path)
    if problems or texts is None:
        raise DialogError(problems)
    return texts


def check_texts_file(path: Path) -> list[Problem]:
    return _load(path)[1]


def fill(template: str, **values: object) -> str:
    """A checked sentence with its placeholders filled in."""
    return template.format(**values).strip()


def _load(path: Path) -> tuple[SelfManagementTexts | None, list[Problem]]:
    return load_checked_file(path, SelfManagementTexts, _placeholder_problems)


def _placeholder_problems(doc: YamlDocument, texts: SelfManagementTexts) -> Iterator[Problem]:
    for section, words in texts.model_dump().items():
        for key, text in words.items():
            allowed = PLACEHOLDERS.get(f"{section}.{key}", frozenset())
            loc = (section, key)
            usable = ", ".join("{" + a + "}" for a in sorted(allowed)) or "no {placeholders}"
            fix = f"use only {usable}, or write {{{{ and }}}} for a literal brace."
            try:
                used = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
            except ValueError:
                yield Problem(doc.label, doc.line_of(loc), None, f"{section}.{key}",
                              "a { or } is not closed, so the sentence cannot be filled in.", fix)
                continue
            for name in used:
                if name not in allowed:
                    yield Problem(doc.label, doc.line_of(loc), None, f"{section}.{key}",
                                  f"{{{name}}} is not filled in here, so the patient would see it as it is.",
                                  fix)
