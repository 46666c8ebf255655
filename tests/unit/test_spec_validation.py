"""Broken dialog files are caught with the file, line, script, state and a fix, like a compiler.

Each test writes one small broken file into a fresh dialogs folder (with a valid service.yaml and
triggers.yaml beside it) and checks the one problem it must produce.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from coachbot.care.triggers import TriggerFileError, load_default_triggers
from coachbot.spec import DialogError, Problem, check_path, load_library
from coachbot.spec.schema import export_schema
from coachbot.spec.yaml_source import load_safe

REPO_DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"

_SHIPPED_COACH_TOOLS = "  coach_tools: " + json.dumps(
    load_safe((REPO_DIALOGS / "service.yaml").read_text())["channel"]["coach_tools"]) + "\n"
"""The coach tools' sentences as shipped, as one line of YAML (JSON) to go under `channel:`."""

SERVICE = """\
entry: hello
daily: hello
weekly: hello
settings: hello
preempt: {}
messages:
  reask:
    scale: Please send a number from 0 to 10.
    number: Please send a number from {min} to {max}.
    choice: "Please choose one of: {options}."
    yes_no: Please answer yes or no.
    time_of_day: Please send a time such as 8am or 19:30.
    free_text: Please send up to {max_length} characters.
    timezone: Please send a city or UK.
  offer_skip: Type skip to leave this one.
  skipped: That is fine.
  cannot_skip: I need an answer to this one.
  help: Type pause, resume or stop.
  paused: Paused.
  paused_days: Paused for {days} days.
  resumed: Welcome back.
  stopped: Stopped.
  stopped_reply: Send /start to begin again.
  idle: Nothing to answer right now.
  stale_button: That question was already answered.
channel:
  patient_commands: {start: Start, checkin: Check in now, steps: Browse steps,
                     flareplan: Flare plan, settings: Change settings, pause: Pause,
                     resume: Resume, stop: Stop, help: Get help, mydata: My data,
                     forget: Forget me}
  coach_commands: {start: Coach start, help: Coach help, queue: Coach queue, patient: Coach patient,
                   note: Coach note, message: Coach message, close: Coach close, handover: Coach handover,
                   resolve: Coach resolve, rebase: Coach rebase, pin: Coach pin, block: Coach block}
  unsupported_media: {photo: No photos., sticker: No stickers., voice: No voice notes., other: Text only.}
  edited_message: Edits are not read.
  group_chat: Private chats only.
  chosen_answer: "{question} - {answer}"
  button_expired: Closed.
  mydata_intro: Your data.
  coach_greeting: Hello coach {name}.
  coach_help: Coach help.
  coach_unknown_command: Unknown command.
  coach_alert: "{tier} {label} {rule} {reason} {evidence}"
  tier_labels: {urgent: Urgent, soon: Soon, routine: Routine}
""" + _SHIPPED_COACH_TOOLS

HELLO = """\
script: hello
start: hi
states:
  hi:
    say: Hello {name}.
    actions:
      - end: true
"""

MINIMAL_TRIGGERS = """\
version: 1
rules:
  - {id: crisis_die, kind: crisis, phrases: [want to die]}
  - {id: abuse_hit, kind: abuse, phrases: [hits me]}
  - {id: rf_numb, kind: red_flag_emergency, phrases: [numb bottom]}
  - {id: rf_fever, kind: red_flag_urgent, phrases: [high temperature]}
"""

PHQ2_BLOCK = """\
block: phq2
start: intro
states:
  intro:
    say: Over the last 2 weeks...
    next: phq2_1
  phq2_1:
    ask: {type: scale, text: Little interest, min: 0, max: 3}
    store: phq2_1
    next: phq2_2
  phq2_2:
    ask: {type: scale, text: Feeling down, min: 0, max: 3}
    store: phq2_2
    next: score
  score:
    actions:
      - score: phq2
    next: $exit
"""


@pytest.fixture
def dialogs(tmp_path: Path) -> Path:
    root = tmp_path / "dialogs"
    (root / "blocks").mkdir(parents=True)
    (root / "service.yaml").write_text(SERVICE)
    (root / "hello.yaml").write_text(HELLO)
    # The smallest trigger file the triggers module accepts: the shipped one takes ~0.3 s to compile,
    # which every test here would pay; one test below runs with it.
    (root / "triggers.yaml").write_text(MINIMAL_TRIGGERS)
    return root


def _repo_triggers_load() -> bool:
    if not (REPO_DIALOGS / "triggers.yaml").is_file():
        return False
    try:
        load_default_triggers(REPO_DIALOGS)
    except TriggerFileError:
        return False
    return True


def write(root: Path, name: str, text: str) -> str:
    """Write a dialog file and return its text (dedented), for finding line numbers in it."""
    text = textwrap.dedent(text)
    (root / name).write_text(text)
    return text


def line(text: str, marker: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing `marker`."""
    hits = [number for number, content in enumerate(text.splitlines(), 1) if marker in content]
    return hits[nth - 1]


def single(root: Path) -> Problem:
    problems = check_path(root)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def test_the_fixture_folder_is_valid(dialogs: Path) -> None:
    assert check_path(dialogs) == []
    assert set(load_library(dialogs).scripts) == {"hello"}


def test_the_fixture_folder_is_valid_with_the_shipped_trigger_file(dialogs: Path) -> None:
    if not _repo_triggers_load():
        pytest.skip("dialogs/triggers.yaml is missing or does not load (its own tests say why)")
    shutil.copy(REPO_DIALOGS / "triggers.yaml", dialogs / "triggers.yaml")
    assert check_path(dialogs) == []


# --- structure (schema) ---------------------------------------------------------------------------

def test_misspelt_key_is_reported_on_its_line_with_the_likely_key(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            say: Hi
            nxt: b
          b:
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.file, problem.line, problem.script, problem.state) == (
        "dialogs/talk.yaml", line(text, "nxt:"), "talk", "a")
    assert "'nxt' is not a key" in problem.message
    assert problem.fix is not None and "did you mean 'next'" in problem.fix


def test_choice_with_one_option_is_reported_on_the_question(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            ask:
              type: choice
              text: Pick one
              options:
                - {value: 1, label: Only}
            store: pick
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.script, problem.state) == (line(text, "ask:"), "talk", "a")
    assert "at least two options" in problem.message
    assert problem.fix is not None and "options:" in problem.fix


def test_unknown_question_type_lists_the_types(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            ask:
              type: slider
              text: How much?
            store: much
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "type: slider"), "a")
    assert "'slider'" in problem.message
    assert problem.fix is not None and "scale" in problem.fix and "yes_no" in problem.fix


def test_yaml_syntax_error_has_its_line(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            say: Time: now: later
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.file, problem.line) == ("dialogs/talk.yaml", line(text, "say: Time"))
    assert "not valid YAML" in problem.message
    assert problem.fix is not None and "quotes" in problem.fix


def test_duplicate_key_names_both_lines(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            say: Hi
            say: Hello
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert problem.line == line(text, "say:", nth=2)
    assert f"first on line {line(text, 'say:')}" in problem.message
    assert problem.fix is not None and "keep one 'say:'" in problem.fix


def test_file_over_one_mebibyte_is_refused_without_reading(dialogs: Path) -> None:
    (dialogs / "huge.yaml").write_bytes(b"# padding\n" * 110_000)
    problem = single(dialogs)
    assert problem.file == "dialogs/huge.yaml"
    assert "larger than the 1 MiB" in problem.message


# --- meaning (checks) -----------------------------------------------------------------------------

def test_unknown_target_reads_like_a_compiler_error(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: welcome
        states:
          welcome:
            say: Hi
            next: consent
          consent:
            ask: {type: yes_no, text: OK?}
            store: agreed
            next: nmae
          name:
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.script, problem.state) == (line(text, "next: nmae"), "talk", "consent")
    assert str(problem) == (f"dialogs/talk.yaml:{problem.line}: talk/consent: 'nmae' is not a state of "
                            "this script. Fix: use one of: name, welcome, consent")


def test_exit_outside_a_block_is_refused(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            say: Hi
            next: $exit
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "$exit"), "a")
    assert "only works inside a block" in problem.message
    assert problem.fix is not None and "end: true" in problem.fix


def test_unknown_block_suggests_the_close_one(dialogs: Path) -> None:
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK)
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: mood
        states:
          mood:
            use: phq3
            next: done
          done:
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "use: phq3"), "mood")
    assert "no block 'phq3'" in problem.message
    assert problem.fix == "use one of: phq2"


def test_switch_to_unknown_script(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            actions:
              - switch: helo
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "switch: helo"), "a")
    assert "'helo' is not a script" in problem.message
    assert problem.fix is not None and "hello" in problem.fix


def test_unreachable_state(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            actions:
              - end: true
          orphan:
            say: Nobody comes here
            next: a
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "orphan:"), "orphan")
    assert "never be reached" in problem.message
    assert problem.fix is not None and "next:" in problem.fix


def test_state_with_no_way_out(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            say: Hi, and then nothing
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "a:"), "a")
    assert "no way out" in problem.message
    assert problem.fix is not None and "end: true" in problem.fix


def test_only_conditional_routes_leave_no_way_out_when_none_holds(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            ask: {type: scale, text: Pain?}
            store: pain
            on:
              - when: {answer: pain, gte: 7}
                goto: b
          b:
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "on:"), "a")
    assert "none of the conditions" in problem.message
    assert problem.fix is not None and "without when:" in problem.fix


def test_condition_on_an_answer_never_asked(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            ask: {type: scale, text: Pain?}
            store: pain
            on:
              - when: {answer: pian, gte: 7}
                goto: b
              - goto: b
          b:
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "answer: pian"), "a")
    assert "'pian'" in problem.message and "no state of script 'talk' asks it" in problem.message
    assert problem.fix is not None and "store: pian" in problem.fix and "pain" in problem.fix


def test_template_showing_an_answer_never_asked(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            say: You said {answers.mood}.
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "say:"), "a")
    assert "{answers.mood}" in problem.message
    assert problem.fix is not None and "store: mood" in problem.fix


def test_score_whose_items_are_not_all_asked(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            ask: {type: scale, text: Little interest, min: 0, max: 3}
            store: phq2_1
            next: b
          b:
            actions:
              - score: phq2
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "score: phq2"), "b")
    assert "phq2_2" in problem.message
    assert problem.fix is not None and "store: phq2_2" in problem.fix


def test_unknown_questionnaire(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            actions:
              - score: phq3
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "score: phq3"), "a")
    assert "'phq3' is not a questionnaire" in problem.message
    assert problem.fix is not None and problem.fix.startswith("use one of: ") and "phq2" in problem.fix


def test_score_condition_without_a_score_action(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            on:
              - when: {score: peg, gte: 5}
                goto: b
              - goto: b
          b:
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "score: peg"), "a")
    assert problem.fix is not None and "- score: peg" in problem.fix


def test_unknown_placeholder(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", """\
        script: talk
        start: a
        states:
          a:
            say: Hello {nmae}.
            actions:
              - end: true
        """)
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "{nmae}"), "a")
    assert "{nmae}" in problem.message
    assert problem.fix is not None and "did you mean {name}" in problem.fix


def test_service_naming_a_missing_script(dialogs: Path) -> None:
    text = SERVICE.replace("daily: hello", "daily: daily_checkin")
    (dialogs / "service.yaml").write_text(text)
    problem = single(dialogs)
    assert (problem.file, problem.line) == ("dialogs/service.yaml", line(text, "daily:"))
    assert "'daily_checkin' is not a script" in problem.message
    assert problem.fix == "use one of: hello"


def test_every_problem_in_every_file_is_reported_at_once(dialogs: Path) -> None:
    write(dialogs, "one.yaml", "script: one\nstart: a\nstates:\n  a:\n    say: Hi\n    next: nowhere\n")
    write(dialogs, "two.yaml", "script: two\nstart: a\nstates:\n  a:\n    nxt: a\n")
    with pytest.raises(DialogError) as caught:
        load_library(dialogs)
    files = [p.file for p in caught.value.problems]
    assert files == ["dialogs/one.yaml", "dialogs/two.yaml"]
    assert "dialogs/one.yaml:6: one/a: 'nowhere'" in str(caught.value)


def test_single_file_is_checked_with_its_folder_blocks(dialogs: Path) -> None:
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK)
    write(dialogs, "broken.yaml", "script: broken\nstart: a\nstates:\n  a:\n    say: Hi\n")
    write(dialogs, "mood.yaml", """\
        script: mood
        start: check
        states:
          check:
            use: phq2
            next: low
          low:
            on:
              - when: {score: phq2, gte: 3}
                goto: done
              - goto: done
          done:
            actions:
              - switch: hello
        """)
    assert check_path(dialogs / "mood.yaml") == []
    assert [p.file for p in check_path(dialogs / "broken.yaml")] == ["dialogs/broken.yaml"]


# --- blocks ---------------------------------------------------------------------------------------

MOOD = """\
script: mood
start: check
states:
  check:
    use: phq2
    next: done
  done:
    say: Thank you. You scored {answers.phq2_1} and {answers.phq2_2}.
    actions:
      - end: true
"""


def test_block_states_are_inlined_under_the_using_state(dialogs: Path) -> None:
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK)
    write(dialogs, "mood.yaml", MOOD)
    script = load_library(dialogs).scripts["mood"]
    assert list(script.states) == ["check", "check/intro", "check/phq2_1", "check/phq2_2", "check/score",
                                   "done"]
    assert script.states["check"].next == "check/intro"
    assert script.states["check"].use is None
    assert script.states["check/intro"].next == "check/phq2_1"
    assert script.states["check/score"].next == "done"
    assert script.states["check/phq2_1"].store == "phq2_1"
    assert script.source == MOOD


def test_block_exit_without_next_is_reported(dialogs: Path) -> None:
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK)
    text = write(dialogs, "mood.yaml", "script: mood\nstart: check\nstates:\n  check:\n    use: phq2\n")
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "check:"), "check")
    assert problem.fix is not None and "next:" in problem.fix


def test_editing_a_block_makes_a_new_version_of_scripts_using_it(dialogs: Path) -> None:
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK)
    write(dialogs, "mood.yaml", MOOD)
    before = load_library(dialogs).scripts
    assert load_library(dialogs).scripts["mood"].version == before["mood"].version
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK.replace("Feeling down", "Feeling low"))
    after = load_library(dialogs).scripts
    assert after["mood"].version != before["mood"].version
    assert after["hello"].version == before["hello"].version
    assert len(after["mood"].version) == 12


# --- JSON Schema ----------------------------------------------------------------------------------

def test_schema_export_writes_json_that_forbids_unknown_keys(tmp_path: Path) -> None:
    paths = export_schema(tmp_path / "schemas")
    assert sorted(p.name for p in paths) == ["dialog.schema.json", "service.schema.json"]
    dialog = json.loads((tmp_path / "schemas" / "dialog.schema.json").read_text())
    assert dialog["$id"].endswith("dialog.schema.json")
    assert dialog["title"]
    state = dialog["$defs"]["State"]
    assert state["additionalProperties"] is False
    assert "on" in state["properties"] and "routes" not in state["properties"]
    assert dialog["properties"]["states"]["additionalProperties"] is False
    service = json.loads((tmp_path / "schemas" / "service.schema.json").read_text())
    assert service["additionalProperties"] is False


# --- files and folders ----------------------------------------------------------------------------

def test_block_in_the_scripts_folder_is_told_to_move(dialogs: Path) -> None:
    (dialogs / "phq2.yaml").write_text(PHQ2_BLOCK)
    problem = single(dialogs)
    assert (problem.file, problem.line, problem.script) == ("dialogs/phq2.yaml", 1, "phq2")
    assert problem.fix is not None and "blocks/" in problem.fix


def test_two_files_with_one_script_name_are_both_reported(dialogs: Path) -> None:
    (dialogs / "hello_again.yaml").write_text(HELLO)
    problems = check_path(dialogs)
    assert [(p.file, p.line) for p in problems] == [("dialogs/hello.yaml", 1),
                                                    ("dialogs/hello_again.yaml", 1)]
    assert "dialogs/hello.yaml" in problems[1].message


def test_empty_file_is_reported(dialogs: Path) -> None:
    (dialogs / "draft.yaml").write_text("# nothing yet\n")
    problem = single(dialogs)
    assert (problem.file, problem.message) == ("dialogs/draft.yaml", "the file is empty.")


def test_broken_trigger_file_is_one_of_the_problems(dialogs: Path) -> None:
    (dialogs / "triggers.yaml").write_text("version: 1\nrules: []\n")
    problem = single(dialogs)
    assert problem.file == "dialogs/triggers.yaml"
    assert str(dialogs) not in problem.message


def test_switch_to_a_block_says_to_use_it(dialogs: Path) -> None:
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK)
    write(dialogs, "talk.yaml", "script: talk\nstart: a\nstates:\n  a:\n    actions:\n      - switch: phq2\n")
    problem = single(dialogs)
    assert "is a block, not a script" in problem.message
    assert problem.fix is not None and "use: phq2" in problem.fix


def test_unknown_placeholder_in_service_messages(dialogs: Path) -> None:
    text = SERVICE.replace("Paused for {days} days.", "Paused for {day} days.")
    (dialogs / "service.yaml").write_text(text)
    problem = single(dialogs)
    assert (problem.file, problem.line) == ("dialogs/service.yaml", line(text, "paused_days:"))
    assert problem.fix is not None and "{days}" in problem.fix


def test_block_may_test_answers_the_using_script_asks(dialogs: Path) -> None:
    block = write(dialogs / "blocks", "advice.yaml", """\
        block: advice
        start: tip
        states:
          tip:
            on:
              - when: {answer: pain, gte: 7}
                goto: strong
              - goto: $exit
          strong:
            say: Your pain is {answers.pain}; {answers.mood} too.
            next: $exit
        """)
    write(dialogs, "talk.yaml", """\
        script: talk
        start: pain
        states:
          pain:
            ask: {type: scale, text: Pain?}
            store: pain
            next: advice
          advice:
            use: advice
            next: done
          done:
            actions:
              - end: true
        """)
    problems = check_path(dialogs / "blocks" / "advice.yaml")
    assert [(p.file, p.line, p.script, p.state) for p in problems] == [
        ("dialogs/blocks/advice.yaml", line(block, "{answers.mood}"), "advice", "strong")]
    assert "script 'talk'" in problems[0].message
    assert check_path(dialogs / "blocks") == problems


def test_a_block_cannot_use_a_block(dialogs: Path) -> None:
    (dialogs / "blocks" / "phq2.yaml").write_text(PHQ2_BLOCK)
    text = write(dialogs / "blocks", "outer.yaml",
                 "block: outer\nstart: a\nstates:\n  a:\n    use: phq2\n    next: $exit\n")
    problem = single(dialogs)
    assert (problem.file, problem.line, problem.state) == (
        "dialogs/blocks/outer.yaml", line(text, "use:"), "a")


def test_invalid_state_name_suggests_a_valid_one(dialogs: Path) -> None:
    text = write(dialogs, "talk.yaml", "script: talk\nstart: a\nstates:\n  a:\n    next: Pain Now\n"
                                       "  Pain Now:\n    actions:\n      - end: true\n")
    problem = single(dialogs)
    assert (problem.line, problem.state) == (line(text, "  Pain Now:"), "Pain Now")
    assert problem.fix is not None and "'pain_now'" in problem.fix


def test_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    assert "no such file" in check_path(tmp_path / "nope").pop().message
