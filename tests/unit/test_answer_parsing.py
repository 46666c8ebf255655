"""Each question type with good and bad input: forgiving about form, strict about what is stored."""

from __future__ import annotations

import pytest

from coachbot.engine.parsing import parse_answer
from coachbot.spec.model import Option, Question

SCALE = Question(type="scale", text="Pain now?")
NUMBER = Question(type="number", text="Days?", min=0, max=7)
DECIMAL = Question(type="number", text="Weight?", min=30, max=250, integer=False)
YES_NO = Question(type="yes_no", text="Agree?")
CHOICE = Question(type="choice", text="How did it go?", options=(
    Option(value="helped", label="It helped", synonyms=("good",)),
    Option(value="not_helped", label="It did not help"),
    Option(value="not_tried", label="I did not try it"),
))
PHQ = Question(type="choice", text="Down?", options=tuple(
    Option(value=i, label=label) for i, label in enumerate(
        ["Not at all", "Several days", "More than half the days", "Nearly every day"])))
TIME = Question(type="time_of_day", text="When?")
FREE = Question(type="free_text", text="Anything else?", max_length=60)
ZONE = Question(type="timezone", text="Where?")


@pytest.mark.parametrize("text,expected", [
    ("7", 7), ("7/10", 7), (" seven ", 7), ("7 out of 10", 7), ("Seven.", 7), ("0", 0), ("10", 10),
    ("about 6", 6), ("6ish", 6), ("7️⃣", 7), ("🔟", 10), ("ten", 10), ("7.0", 7), ("i'd say 3", 3),
])
def test_scale_accepts_common_ways_of_writing_a_number(text: str, expected: int) -> None:
    assert parse_answer(text, SCALE) == expected


@pytest.mark.parametrize("text", [
    "", "   ", "11", "-1", "7.5", "7 or 8", "seventy", "😀😀", "🙂", "a lot", "x" * 5000, "1e3", "nan",
    "inf", "10/10/10", "7 out of 9",
])
def test_scale_refuses_anything_not_clearly_0_to_10(text: str) -> None:
    assert parse_answer(text, SCALE) is None


def test_number_respects_its_range_and_integer_rule() -> None:
    assert parse_answer("3", NUMBER) == 3
    assert parse_answer("three", NUMBER) == 3
    assert parse_answer("8", NUMBER) is None
    assert parse_answer("2.5", NUMBER) is None
    assert parse_answer("72,5", DECIMAL) == 72.5
    assert parse_answer("20", DECIMAL) is None


@pytest.mark.parametrize("text,expected", [
    ("yes", 1), ("Y", 1), ("yeah", 1), ("Yes, I do", 1), ("👍", 1), ("no", 0), ("Nope", 0), ("nah", 0),
    ("no, not really", 0),
])
def test_yes_no_understands_everyday_answers(text: str, expected: int) -> None:
    assert parse_answer(text, YES_NO) == expected


@pytest.mark.parametrize("text", ["maybe", "", "🤷", "yes and no? " * 100, "perhaps"])
def test_yes_no_refuses_unclear_answers(text: str) -> None:
    assert parse_answer(text, YES_NO) is None


def test_choice_matches_value_label_synonym_and_unique_prefix() -> None:
    assert parse_answer("helped", CHOICE) == "helped"
    assert parse_answer("it did not help", CHOICE) == "not_helped"
    assert parse_answer("Good", CHOICE) == "helped"
    assert parse_answer("I did", CHOICE) == "not_tried"
    assert parse_answer("It", CHOICE) is None  # too short to be sure
    assert parse_answer("banana", CHOICE) is None


def test_numeric_choice_values_are_stored_as_numbers() -> None:
    assert parse_answer("2", PHQ) == 2
    assert parse_answer("nearly every day", PHQ) == 3
    assert parse_answer("4", PHQ) is None


@pytest.mark.parametrize("text,expected", [
    ("08:30", "08:30"), ("8.30", "08:30"), ("8:30am", "08:30"), ("7pm", "19:00"), ("19", "19:00"),
    ("noon", "12:00"), ("12am", "00:00"), ("12 pm", "12:00"), ("6 o'clock", "06:00"),
])
def test_time_of_day_is_normalised(text: str, expected: str) -> None:
    assert parse_answer(text, TIME) == expected


@pytest.mark.parametrize("text", ["25:00", "13pm", "8:75", "sometime", "", "morning-ish"])
def test_time_of_day_refuses_impossible_times(text: str) -> None:
    assert parse_answer(text, TIME) is None


def test_free_text_needs_a_letter_or_digit_and_respects_length() -> None:
    assert parse_answer("  Alex  ", FREE) == "Alex"
    assert parse_answer("🙂🙂", FREE) is None
    assert parse_answer("", FREE) is None
    assert parse_answer("a" * 61, FREE) is None


@pytest.mark.parametrize("text,expected", [
    ("Europe/London", "Europe/London"), ("london", "Europe/London"), ("UK", "Europe/London"),
    ("new york", "America/New_York"), ("America/New_York", "America/New_York"), ("paris", "Europe/Paris"),
    ("GMT", "Europe/London"),
])
def test_timezone_accepts_names_cities_and_uk(text: str, expected: str) -> None:
    assert parse_answer(text, ZONE) == expected


def test_timezone_refuses_unknown_places() -> None:
    assert parse_answer("Atlantis", ZONE) is None
