"""Hostile or broken admin files are refused with one sentence naming the file and line, quickly and
with little memory: never a crash, a hang, or a value that was not understood."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from coachbot.spec import DialogError, Problem, check_path, yaml_source
from coachbot.spec.escalation_rules import check_escalation_file
from coachbot.spec.steps import check_steps_file
from coachbot.spec.summary_texts import check_summary_file
from coachbot.spec.yaml_source import MAX_BYTES, load_safe, parse_yaml, read_yaml

ROOT = Path(__file__).resolve().parents[2]
DIALOGS = ROOT / "dialogs"

BILLION_LAUGHS = "".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]\n"]
    + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 9)])
"""Nine levels of nine aliases each: 9**9 (387 million) values from a file of 342 bytes."""


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each refusal must hold with LibYAML and with PyYAML's pure-Python fallback."""
    if request.param == "pure-python":
        monkeypatch.setattr(yaml_source, "LOADER", yaml_source.PURE_LOADER)
    elif yaml_source.LOADER is yaml_source.PURE_LOADER:
        pytest.fail("PyYAML was installed without LibYAML; the pinned wheel has it")
    yield request.param


def refused(text: str | bytes, label: str = "dialogs/x.yaml") -> Problem:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(DialogError) as caught:
        parse_yaml(raw, label)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_a_billion_laughs_file_is_refused_in_a_blink_with_little_memory(loader: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        problem = refused(BILLION_LAUGHS)
    finally:
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert len(BILLION_LAUGHS.encode()) < 700
    assert took < 1.0, f"{took:.2f} s"
    assert peak < 5_000_000, f"{peak:,} bytes at the peak"
    assert problem.file == "dialogs/x.yaml" and problem.line is not None
    assert "more than 100,000 values once every *alias is expanded" in problem.message
    assert problem.fix is not None and "*aliases" in problem.fix


def test_the_billion_laughs_is_refused_in_the_trigger_file_too() -> None:
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        load_safe(BILLION_LAUGHS)
    assert "more than 100,000 values" in str(caught.value)


def test_an_alias_to_the_list_that_holds_it_is_refused(loader: str) -> None:
    problem = refused("a: &loop [1, *loop]\n")
    assert (problem.line, problem.message) == (1, "an *alias here stands for a list or mapping that "
                                                  "contains it, which never ends.")


def test_a_file_over_one_mebibyte_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "steps.yaml"
    path.write_bytes(b"steps: [" + b"1, " * (MAX_BYTES // 3) + b"1]\n")
    with pytest.raises(DialogError) as caught:
        read_yaml(path, "dialogs/steps.yaml")
    [problem] = caught.value.problems
    assert problem.file == "dialogs/steps.yaml"
    assert "larger than the 1 MiB a dialog file may be" in problem.message
    assert [str(p) for p in check_steps_file(path)] == [str(problem).replace("dialogs/", f"{tmp_path.name}/")]


INDENTED = "a:\n" + "".join(" " * n + f"k{n}:\n" for n in range(1, 200)) + " " * 200 + "x"


@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, "- " * 10_000 + "x\n", INDENTED])
def test_deep_nesting_is_refused_without_recursion_error(loader: str, text: str) -> None:
    problem = refused(text)
    assert problem.line is not None
    assert problem.message == "this is nested more than 64 levels deep; dialog files need a few levels."


def test_nesting_deep_only_through_aliases_is_refused(loader: str) -> None:
    chain = "".join(f"l{n}: &l{n} [*l{n - 1}]\n" for n in range(1, 70))
    problem = refused("l0: &l0 [x]\n" + chain)
    assert problem.message.startswith("this is nested more than 64 levels deep")


def test_a_five_thousand_digit_number_is_refused(loader: str) -> None:
    problem = refused("version: 1\nsteps:\n  - minutes: " + "9" * 5001 + "\n")
    assert problem.line == 3
    assert problem.message == "this number has 5,001 digits; numbers in an admin file have at most 20."


@pytest.mark.parametrize("tagged", [
    "!!python/object:os.system ls", "!!python/object/apply:os.system [ls]", "!mytag hello",
    "!!binary aGVsbG8=", "!!set {a, b}", "!!timestamp 2026-01-01"])
def test_a_python_object_or_any_unknown_tag_is_refused_not_obeyed(loader: str, tagged: str) -> None:
    problem = refused(f"script: talk\nstart: a\nsay: {tagged}\n")
    assert problem.line == 3
    assert problem.message.startswith("the tag !")
    assert "admin files hold only text, numbers, true/false, lists and mappings" in problem.message


def test_a_core_tag_on_a_value_it_does_not_fit_is_refused(loader: str) -> None:
    assert refused("a: 1\nb: !!int ten\n").message == "'ten' is tagged !!int but is not a whole number."


def test_a_duplicate_key_is_refused_with_both_lines(loader: str) -> None:
    problem = refused("script: talk\nstates:\n  a:\n    say: Hi\n    say: Hello\n")
    assert problem.line == 5
    assert problem.message.startswith("'say' appears twice in the same mapping (first on line 4)")


def test_a_duplicate_key_in_the_trigger_file_is_refused_with_its_line() -> None:
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        load_safe("version: 1\nrules: []\nrules: []\n")
    assert caught.value.problem_mark is not None and caught.value.problem_mark.line + 1 == 3


def test_plain_values_are_read_as_yaml_1_2_reads_them(loader: str) -> None:
    text = "on: yes\nno: off\nt: 09:00\nd: 2026-01-01\nn: ~\ne:\nb: true\ni: 0x1F\no: 0o17\nf: 1e3\ns: '12'\n"
    assert parse_yaml(text.encode(), "x.yaml").data == {
        "on": "yes", "no": "off", "t": "09:00", "d": "2026-01-01", "n": None, "e": None, "b": True,
        "i": 31, "o": 15, "f": 1000.0, "s": "12"}
    assert load_safe(text) == parse_yaml(text.encode(), "x.yaml").data


def test_the_shipped_files_read_the_same_with_either_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(DIALOGS.rglob("*.yaml"))
    fast = [parse_yaml(p.read_bytes(), p.name).data for p in files]
    monkeypatch.setattr(yaml_source, "LOADER", yaml_source.PURE_LOADER)
    assert [parse_yaml(p.read_bytes(), p.name).data for p in files] == fast


# --- numbers that are not numbers ----------------------------------------------------------------

@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "dialogs"
    shutil.copytree(DIALOGS, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> int:
    """Replace `old` by `new` once in the file; the line it is on."""
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN", "+.inf", "1e999"])
def test_a_question_bound_that_is_not_a_finite_number_is_refused(shipped: Path, value: str) -> None:
    script = shipped / "talk.yaml"
    script.write_text(textwrap.dedent(f"""\
        script: talk
        start: a
        states:
          a:
            ask: {{type: number, text: How many?, min: 0, max: {value}}}
            store: much
            actions:
              - end: true
        """))
    [problem] = check_path(script)
    assert (problem.file, problem.line, problem.state) == ("dialogs/talk.yaml", 5, "a")
    assert problem.message.startswith("ask.max: expected a number, found ")


@pytest.mark.parametrize(("check", "name", "old", "new"), [
    (check_steps_file, "steps.yaml", "{measure: pain_now, gte: 9}", "{measure: pain_now, gte: .nan}"),
    (check_steps_file, "steps.yaml", "minutes: 10", "minutes: .inf"),
    (check_escalation_file, "escalation.yaml", "acknowledge_within: {minutes: 60}",
     "acknowledge_within: {minutes: .nan}"),
    (check_escalation_file, "escalation.yaml", "at_least: 3", "at_least: -.inf"),
    (check_escalation_file, "escalation.yaml", "{up_to: 4, change: 1}", "{up_to: .inf, change: 1}"),
    (check_summary_file, "summary.yaml", "same_within: 1", "same_within: .nan"),
])
def test_nan_and_infinity_are_refused_in_every_numeric_field(
        shipped: Path, check: Callable[[Path], list[Problem]], name: str, old: str, new: str) -> None:
    line = _edit(shipped / name, old, new)
    problems = check(shipped / name)
    assert [(p.file, p.line) for p in problems] == [(f"dialogs/{name}", line)], problems
    assert "expected a number, found " in problems[0].message


# --- the command line ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "said"), [
    (BILLION_LAUGHS, "dialogs/bomb.yaml:6: this expands to more than 100,000 values"),
    ("a: !!python/object/apply:os.system [echo owned]\n",
     "dialogs/bomb.yaml:1: the tag !!python/object/apply"),
    ("[" * 10_000 + "]" * 10_000, "dialogs/bomb.yaml:1: this is nested more than 64 levels deep"),
])
def test_dialogs_validate_says_one_sentence_and_no_traceback(shipped: Path, text: str, said: str) -> None:
    (shipped / "bomb.yaml").write_text(text)
    result = subprocess.run([sys.executable, "-m", "coachbot.cli", "dialogs", "validate", str(shipped)],
                            capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "owned" not in result.stdout
    lines = result.stderr.splitlines()
    assert lines == [next(line for line in lines if line.startswith(said)), "1 problem(s) found"]
