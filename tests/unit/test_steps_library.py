"""The step library: the shipped steps.yaml is valid and safe, and each kind of broken steps file is
reported with the file and the line to open, like a broken dialog script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coachbot.care.steps_library import condition_holds, describe_condition
from coachbot.spec import DialogError
from coachbot.spec.steps import (
    CATEGORIES,
    NOT_RECOMMENDED,
    StepCondition,
    check_steps_file,
    load_steps,
    steps_json_schema,
    write_steps_schema,
)

STEPS = Path(__file__).resolve().parents[2] / "dialogs" / "steps.yaml"


def _base() -> str:
    """A valid file: one small step per category."""
    blocks = [f"""\
  - id: step_{category}
    title: A {category} step
    text: Do one small {category} thing today.
    category: {category}
    effort: low
    minutes: 5
    exercise: {str(category == "movement").lower()}
""" for category in CATEGORIES]
    return "version: 1\nsteps:\n" + "".join(blocks)


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "dialogs" / "steps.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return [str(p) for p in check_steps_file(path)]


def _line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


# ------------------------------------------------------------------ the shipped file

def test_shipped_steps_file_is_valid() -> None:
    assert check_steps_file(STEPS) == []
    library = load_steps(STEPS)
    assert len(library) >= 30


def test_shipped_steps_cover_every_category() -> None:
    library = load_steps(STEPS)
    assert {s.category for s in library.steps} == set(CATEGORIES)


def test_shipped_steps_suggest_nothing_nice_ng59_advises_against() -> None:
    for step in load_steps(STEPS).steps:
        assert not NOT_RECOMMENDED.search(step.title + " " + step.text), step.id
        assert "!" not in step.text, f"{step.id}: no exclamation marks (dialogs/README.md)"


def test_shipped_strenuous_steps_are_held_back_at_high_pain() -> None:
    """The clinical intent written into the data: strengthening and aerobic steps stop at pain 8."""
    library = load_steps(STEPS)
    for step_id in ("sit_to_stand", "bridges", "a_little_out_of_breath"):
        step = library.get(step_id)
        assert step is not None
        assert any(condition_holds(c, {"pain_now": 8}, frozenset()) for c in step.exclude_when)


def test_shipped_heat_and_exposure_steps_are_marked_for_their_gates() -> None:
    library = load_steps(STEPS)
    assert [s.id for s in library.steps if s.heat] == ["warmth_for_comfort"]
    assert [s.id for s in library.steps if s.exposure] == ["feared_movement_small_step"]
    assert all(s.exercise for s in library.steps if s.category == "movement")


# ------------------------------------------------------------------ broken files

def test_base_file_used_below_is_valid(tmp_path: Path) -> None:
    assert _problems(tmp_path, _base()) == []


def test_duplicate_step_id_is_reported_at_the_second_one(tmp_path: Path) -> None:
    text = _base().replace("id: step_sleep", "id: step_pacing")
    problems = _problems(tmp_path, text)
    second = [n for n, line in enumerate(text.splitlines(), 1) if "id: step_pacing" in line][1]
    assert len(problems) == 1
    assert problems[0].startswith(f"dialogs/steps.yaml:{second}: step_pacing: the id 'step_pacing' is "
                                  f"already used on line {_line_of(text, 'id: step_pacing')}")


def test_unknown_category_is_reported_with_the_allowed_ones(tmp_path: Path) -> None:
    text = _base().replace("category: sleep", "category: sleeping")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, 'category: sleeping')}: step_sleep:")
    assert "did you mean 'sleep'?" in problems[0]


def test_a_category_without_steps_is_reported(tmp_path: Path) -> None:
    text = _base().replace("category: work", "category: pacing")
    problems = _problems(tmp_path, text)
    assert problems == [f"dialogs/steps.yaml:{_line_of(text, 'steps:')}: no step has category 'work'; every "
                        "category needs at least one. Fix: add a step with category: work."]


def test_unknown_measure_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    text = _base().replace("    minutes: 5\n", "    minutes: 5\n    exclude_when:\n"
                           "      - {measure: pain_nwo, gte: 8}\n", 1)
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, 'pain_nwo')}: step_movement: there "
                                  "is no measure 'pain_nwo'.")
    assert "did you mean 'pain_now'?" in problems[0]


def test_unknown_flag_inside_a_combinator_is_reported(tmp_path: Path) -> None:
    text = _base().replace("    minutes: 5\n", "    minutes: 5\n    suits:\n      - any:\n"
                           "          - {measure: mood_now, lte: 3}\n          - {flag: flair}\n", 1)
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, 'flair')}: step_movement: there is "
                                  "no flag 'flair'.")
    assert "did you mean 'flare'?" in problems[0]


@pytest.mark.parametrize(("condition", "message"), [
    ("{measure: pain_now, gte: 11}", "pain_now runs from 0 to 10, so 11 can never match."),
    ("{measure: phq2_total, in: [2, 7]}", "phq2_total runs from 0 to 6, so 7 can never match."),
    ("{measure: startback_risk, gte: 2}", "startback_risk is a category, not a number."),
    ("{measure: startback_risk, eq: hgh}", "startback_risk is never 'hgh'."),
])
def test_a_condition_that_can_never_mean_what_it_says_is_reported(tmp_path: Path, condition: str,
                                                                   message: str) -> None:
    text = _base().replace("    minutes: 5\n", f"    minutes: 5\n    exclude_when:\n      - {condition}\n", 1)
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, condition)}: step_movement: {message}")


@pytest.mark.parametrize(("condition", "message"), [
    ("{flag: flare, eq: 1}", "a flag condition takes no test"),
    ("{measure: pain_now}", "a measure condition needs a test"),
    ("{measure: pain_now, flag: flare}", "exactly one of measure: or flag:"),
    ("{measure: pain_now, gtee: 8}", "'gtee' is not a key allowed"),
])
def test_a_malformed_condition_is_a_structural_problem_on_its_line(tmp_path: Path, condition: str,
                                                                     message: str) -> None:
    text = _base().replace("    minutes: 5\n", f"    minutes: 5\n    exclude_when:\n      - {condition}\n", 1)
    problems = _problems(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, condition)}: step_movement: ")
    assert message in problems[0]


@pytest.mark.parametrize("words", ["Wear a back belt today.", "Book a TENS session.", "Ask about an MRI.",
                                   "Take paracetamol.", "Opioids can help."])
def test_steps_that_nice_ng59_advises_against_are_refused(tmp_path: Path, words: str) -> None:
    text = _base().replace("text: Do one small relaxation thing today.", f"text: {words}")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, words)}: step_relaxation: mentions")
    assert "NICE NG59 advises against" in problems[0]


def test_a_medicine_dose_is_refused(tmp_path: Path) -> None:
    text = _base().replace("text: Do one small signposting thing today.", "text: Take 400 mg twice a day.")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert "'400 mg' reads like a medicine dose" in problems[0]


def test_a_movement_step_must_be_marked_as_exercise(tmp_path: Path) -> None:
    text = _base().replace("exercise: true", "exercise: false")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, 'exercise: false')}: step_movement: "
                                  "a movement step must say exercise: true")


def test_a_step_using_heat_must_be_marked_for_the_numb_skin_gate(tmp_path: Path) -> None:
    text = _base().replace("text: Do one small relaxation thing today.", "text: Rest with a wheat bag.")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert "the text uses heat, but heat: is not true" in problems[0]
    assert problems[0].startswith(f"dialogs/steps.yaml:{_line_of(text, 'wheat bag')}: step_relaxation:")


def test_a_missing_field_names_the_step_and_its_line(tmp_path: Path) -> None:
    text = _base().replace("category: pacing\n    effort: low\n", "category: pacing\n")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert "step_pacing: steps[2]: 'effort' is missing" in problems[0]


def test_a_yaml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    text = _base().replace("title: A sleep step", "title: A sleep step: with colon")
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    line = _line_of(text, "with colon")
    assert problems[0].startswith(f"dialogs/steps.yaml:{line}: this is not valid YAML")


def test_load_steps_raises_with_every_problem(tmp_path: Path) -> None:
    text = _base().replace("category: work", "category: pacing").replace("id: step_sleep", "id: step_pacing")
    path = tmp_path / "dialogs" / "steps.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DialogError) as caught:
        load_steps(path)
    assert len(caught.value.problems) == 2


# ------------------------------------------------------------------ conditions and schema

def test_conditions_are_evaluated_as_data() -> None:
    cond = StepCondition.model_validate(
        {"all": [{"measure": "startback_risk", "eq": "high"}, {"not": {"flag": "coach_supported"}}]})
    assert condition_holds(cond, {"startback_risk": "high"}, frozenset())
    assert not condition_holds(cond, {"startback_risk": "high"}, frozenset({"coach_supported"}))
    assert not condition_holds(cond, {}, frozenset())
    assert describe_condition(cond) == "(startback_risk = high and not coach_supported)"


def test_a_missing_score_satisfies_no_comparison_but_can_be_tested_for() -> None:
    high = StepCondition.model_validate({"measure": "pain_now", "gte": 8})
    unknown = StepCondition.model_validate({"measure": "pain_now", "known": False})
    assert not condition_holds(high, {}, frozenset())
    assert condition_holds(unknown, {}, frozenset())
    assert condition_holds(high, {"pain_now": 8}, frozenset())


def test_json_schema_describes_steps_yaml(tmp_path: Path) -> None:
    schema = steps_json_schema()
    assert schema["title"] == "coachbot dialogs/steps.yaml"
    assert "steps" in schema["properties"]
    written = write_steps_schema(tmp_path)
    assert json.loads(written.read_text(encoding="utf-8")) == schema
    step = schema["$defs"]["Step"]
    assert set(step["required"]) >= {"id", "title", "text", "category", "effort", "minutes", "exercise"}
    assert step["additionalProperties"] is False
