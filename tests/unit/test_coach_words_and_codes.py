"""The coach tools' sentences are checked when the files load, and invite codes are typed forgivingly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from coachbot.app.coaches.desk import command_of
from coachbot.app.coaches.invites import ALPHABET, code_hash, new_code
from coachbot.engine import TextMessage
from coachbot.spec.coach_words import CoachWords, fill
from coachbot.spec.yaml_source import load_safe

SERVICE_FILE = Path(__file__).resolve().parents[2] / "dialogs" / "service.yaml"
SHIPPED = load_safe(SERVICE_FILE.read_text())


def shipped_words() -> dict[str, object]:
    return dict(SHIPPED["channel"]["coach_tools"])


def test_the_shipped_coach_words_load() -> None:
    words = CoachWords.model_validate(shipped_words())
    assert fill(words.forwarded, label="P-AAAAAA", text="hi {label}") == "P-AAAAAA wrote:\nhi {label}"


def test_a_placeholder_typo_is_refused_with_the_ones_that_may_be_used() -> None:
    data = shipped_words() | {"note_saved": "Saved for {lable}."}
    refused = r"coach_tools.note_saved: \{lable\} is not filled in here; use \{label\}"
    with pytest.raises(ValidationError, match=refused):
        CoachWords.model_validate(data)


def test_a_missing_sentence_is_refused() -> None:
    data = shipped_words()
    del data["passed_on"]
    with pytest.raises(ValidationError, match="passed_on"):
        CoachWords.model_validate(data)


def test_codes_are_long_unambiguous_and_forgiving_about_case_dashes_and_spaces() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    code = codes.pop()
    letters = code.replace("-", "")
    assert len(letters) == 12 and set(letters) <= set(ALPHABET) and not set("01IO") & set(letters)
    assert code_hash(code) == code_hash(letters.lower()) == code_hash(" ".join(letters))
    assert code_hash(code) != code_hash(letters[:-1]) and letters not in code_hash(code)


@pytest.mark.parametrize(("text", "expected"), [
    ("/queue", ("queue", "")), ("/Patient@coachbot P-AAAAAA", ("patient", "P-AAAAAA")),
    ("/note P-AAAAAA  two words ", ("note", "P-AAAAAA  two words")), ("/start", None), ("queue", None),
    ("/queues", None)])
def test_coach_commands_are_recognised_by_name_only(text: str, expected: tuple[str, str] | None) -> None:
    assert command_of(TextMessage(text)) == expected
