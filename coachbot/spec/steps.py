"""The self-management step library (`dialogs/steps.yaml`): its shape, its meaning, and the steps it holds.

Coaches and admins curate the steps, so the file is validated like the dialog scripts: pydantic for the
shape, then semantic checks (unique ids, every category covered, known measures and flags, nothing NICE
NG59 advises against, safety fields consistent with the text), each problem with its file and line.
Conditions are written in the one condition language of the admin files (`spec.conditions`), on a
measure or a flag; what they mean for a patient today is `coachbot.care.steps_library`'s to say.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError

from coachbot.spec.catalogue import CATEGORICAL_MEASURES, FLAGS, NUMERIC_MEASURES
from coachbot.spec.conditions import ConditionBase
from coachbot.spec.problems import DialogError, Problem, sort_problems
from coachbot.spec.schema import schema_problems
from coachbot.spec.strict import StrictModel
from coachbot.spec.yaml_source import Loc, YamlDocument, read_yaml

Category = Literal["movement", "pacing", "relaxation", "sleep", "thinking_patterns", "work",
                   "social_contact", "signposting"]
CATEGORIES: tuple[str, ...] = get_args(Category)
Effort = Literal["low", "medium", "high"]
NOT_RECOMMENDED = re.compile(
    r"\b(belts?|braces?|corsets?|orthotics?|insoles?|traction|acupuncture|dry needling|tens|"
    r"x-?rays?|mri|ct scans?|imaging|paracetamol|opioids?|codeine|tramadol|morphine)\b", re.IGNORECASE)
"""NICE NG59 advises against these for low back pain, so no step may suggest them."""
DOSE = re.compile(r"\b\d+(\.\d+)?\s*(mg|milligrams?|g|grams?|ml|tablets?|capsules?|pills?)\b", re.IGNORECASE)
"""Medicine doses are never given; steps signpost to the GP or pharmacist instead."""
HEAT_WORDS = re.compile(r"\b(heat|heated|hot water bottle|wheat bag|heat pad)", re.IGNORECASE)


class StepCondition(ConditionBase):
    """`{measure: pain_now, gte: 8}`, `{flag: leg_numbness}` (holds while the flag is raised), or
    `all:`/`any:`/`not:` around others. A measure with no value yet satisfies no comparison."""

    SUBJECTS = ("measure", "flag")
    PRESENCE = "known"
    BARE = frozenset({"flag"})

    measure: str | None = Field(default=None,
                                description=f"one of {', '.join([*NUMERIC_MEASURES, *CATEGORICAL_MEASURES])}")
    flag: str | None = Field(default=None, description=f"one of {', '.join(FLAGS)}")
    known: bool | None = Field(default=None, description="true: the measure has a value")
    all: tuple[StepCondition, ...] | None = None
    any: tuple[StepCondition, ...] | None = None
    not_: StepCondition | None = Field(default=None, alias="not")


class Step(StrictModel):
    """One small thing a patient can do today, and when it must not be offered."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    title: str = Field(min_length=1, max_length=60)
    text: str = Field(min_length=1, max_length=900)
    category: Category
    effort: Effort
    minutes: int = Field(ge=1, le=120)
    suits: tuple[StepCondition, ...] = Field(default=(), description="favoured when any of these holds")
    exclude_when: tuple[StepCondition, ...] = Field(default=(), description="never offered when any holds")
    exercise: bool = Field(description="deliberate physical activity: gated by new leg weakness or numbness")
    heat: bool = Field(default=False, description="uses heat: gated by numb skin or neuropathy")
    exposure: bool = Field(default=False, description="graded exposure: high-risk STarT Back needs a coach")


class StepsFile(StrictModel):
    """`dialogs/steps.yaml`."""

    version: Literal[1] = 1
    steps: tuple[Step, ...] = Field(min_length=1)


@dataclass(frozen=True)
class StepLibrary:
    """The validated steps, in file order (the order breaks ties, so choices are reproducible)."""

    steps: tuple[Step, ...]
    by_id: Mapping[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", MappingProxyType({s.id: s for s in self.steps}))

    def get(self, step_id: str) -> Step | None:
        return self.by_id.get(step_id)

    def __len__(self) -> int:
        return len(self.steps)


def load_steps(path: Path) -> StepLibrary:
    """The library the policy chooses from; raises DialogError with every problem, never half-loads."""
    library, problems = _load(path)
    if problems or library is None:
        raise DialogError(problems)
    return library


def check_steps_file(path: Path) -> list[Problem]:
    """Every problem in a steps file, for `coachbot dialogs validate`; empty when it is good."""
    return _load(path)[1]


def steps_json_schema() -> dict[str, Any]:
    """The JSON Schema of steps.yaml, so an admin's editor flags mistakes while they type."""
    schema = StepsFile.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:coachbot:schema:steps.schema.json", **schema, "title": "coachbot dialogs/steps.yaml"}


def write_steps_schema(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "steps.schema.json"
    path.write_text(json.dumps(steps_json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _load(path: Path) -> tuple[StepLibrary | None, list[Problem]]:
    label = f"{path.parent.name}/{path.name}"
    try:
        doc = read_yaml(path, label)
    except DialogError as exc:
        return None, exc.problems
    if not isinstance(doc.data, dict):
        return None, [Problem(label, None, None, None, "the file must be a mapping with steps: under it.",
                              "start the file with 'version: 1' and 'steps:'.")]
    try:
        spec = StepsFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, sort_problems(_name_steps(p, doc) for p in schema_problems(exc, doc, StepsFile))
    problems = sort_problems(_semantic_problems(doc, spec))
    return (None if problems else StepLibrary(spec.steps)), problems


def _name_steps(problem: Problem, doc: YamlDocument) -> Problem:
    """Structural problems know their line; name the step whose entry holds that line."""
    steps = doc.data.get("steps") if isinstance(doc.data, dict) else None
    if problem.line is None or not isinstance(steps, list):
        return problem
    owner = None
    for index, raw in enumerate(steps):
        if doc.line_of(("steps", index)) <= problem.line and isinstance(raw, dict):
            owner = raw.get("id") if isinstance(raw.get("id"), str) else f"step {index + 1}"
    return Problem(problem.file, problem.line, None, owner, problem.message, problem.fix)


def _semantic_problems(doc: YamlDocument, spec: StepsFile) -> Iterator[Problem]:
    first_index: dict[str, int] = {}  # the line is looked up only for a duplicate (see YamlDocument.tree)
    for index, step in enumerate(spec.steps):
        where: Loc = ("steps", index)

        def problem(loc: Loc, message: str, fix: str, step: Step = step, where: Loc = where) -> Problem:
            return Problem(doc.label, doc.line_of((*where, *loc)), None, step.id, message, fix)

        if step.id in first_index:
            first_line = doc.line_of(("steps", first_index[step.id], "id"))
            yield problem(("id",), f"the id '{step.id}' is already used on line {first_line}.",
                          "give each step its own id: suggestions and feedback are stored by id.")
        first_index.setdefault(step.id, index)
        for key in ("title", "text"):
            said = getattr(step, key)
            if found := NOT_RECOMMENDED.search(said):
                yield problem((key,), f"mentions '{found.group(0)}', which NICE NG59 advises against for "
                              "low back pain.", "remove it; steps only suggest what NG59 recommends.")
            if found := DOSE.search(said):
                yield problem((key,),
                              f"'{found.group(0)}' reads like a medicine dose; the bot never gives doses.",
                              "signpost to the GP or pharmacist instead.")
        if step.category == "movement" and not step.exercise:
            yield problem(("exercise",), "a movement step must say exercise: true, or the leg weakness and "
                          "numbness gate will not hold it back.", "write exercise: true.")
        if step.exposure and not step.exercise:
            yield problem(("exposure",), "exposure to a feared movement is exercise too.",
                          "write exercise: true.")
        if HEAT_WORDS.search(step.text) and not step.heat:
            yield problem(("text",),
                          "the text uses heat, but heat: is not true, so numb skin would not gate it.",
                          "write heat: true.")
        for key in ("suits", "exclude_when"):
            for n, cond in enumerate(getattr(step, key)):
                for loc, message, fix in _condition_problems(cond, (key, n)):
                    yield problem(loc, message, fix)
    for category in sorted(set(CATEGORIES) - {s.category for s in spec.steps}):
        yield Problem(doc.label, doc.line_of(("steps",)), None, None,
                      f"no step has category '{category}'; every category needs at least one.",
                      f"add a step with category: {category}.")


def _condition_problems(cond: StepCondition, loc: tuple[str | int, ...]) -> Iterator[tuple[Loc, str, str]]:
    for key, children in (("all", cond.all), ("any", cond.any)):
        for n, child in enumerate(children or ()):
            yield from _condition_problems(child, (*loc, key, n))
    if cond.not_ is not None:
        yield from _condition_problems(cond.not_, (*loc, "not"))
    if cond.flag is not None and cond.flag not in FLAGS:
        yield (*loc, "flag"), f"there is no flag '{cond.flag}'.", _close(cond.flag, FLAGS)
    if cond.measure is None:
        return
    tests = cond.tests()
    values = [v for k, v in tests if k in ("eq", "ne")] + list(cond.in_ or ())
    if cond.measure in CATEGORICAL_MEASURES:
        allowed = CATEGORICAL_MEASURES[cond.measure]
        for key, _ in tests:
            if key in ("gt", "gte", "lt", "lte"):
                yield (*loc, key), f"{cond.measure} is a category, not a number.", "use eq:, ne: or in:."
        for value in values:
            if str(value) not in allowed:
                yield (*loc,), f"{cond.measure} is never {value!r}.", f"use one of: {', '.join(allowed)}."
    elif cond.measure in NUMERIC_MEASURES:
        low, high = NUMERIC_MEASURES[cond.measure]
        for key, value in tests:
            if key == "known":
                continue
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, bool) or not isinstance(item, int | float) or not low <= item <= high:
                    yield ((*loc, "in" if key == "in_" else key),
                           f"{cond.measure} runs from {low:g} to {high:g}, so "
                           f"{_said(item)} "
                           "can never match.",
                           f"compare with a number from {low:g} to {high:g}.")
    else:
        known = [*NUMERIC_MEASURES, *CATEGORICAL_MEASURES]
        yield (*loc, "measure"), f"there is no measure '{cond.measure}'.", _close(cond.measure, known)


def _said(value: object) -> str:
    """A value as the admin wrote it: `8`, `7.5`, `'high'`, `true`."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _close(name: str, known: Mapping[str, object] | list[str]) -> str:
    names = list(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}known: {', '.join(names)}."
