"""The weekly review day typed as a person means it: day names and their short forms in any case, and
numbers counted from 1 = Monday to 7 = Sunday; anything else is asked again with one sentence saying
so (issue 14 follow-up: a typed "1" used to mean Tuesday, as the options counted from Monday = 0)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coachbot.engine import Engine, Reply, UpdateProfile
from coachbot.spec import check_path
from coachbot.spec.model import WEEKDAYS, weekday_index
from tests.support.engine_driver import EngineChat

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
TO_REVIEW_DAY = ["hello", "yes", "Alex", "no", "no", "6", "4", "no", "working", "8am"]


def at_review_day(engine: Engine) -> EngineChat:
    chat = EngineChat(engine)
    for text in TO_REVIEW_DAY:
        chat.send(text)
    assert chat.state == "review_day"
    return chat


def stored(chat: EngineChat) -> list[object]:
    return [e.value for e in chat.last if isinstance(e, UpdateProfile) and e.field == "weekly_review_day"]


@pytest.mark.parametrize("typed,day", [
    ("1", "monday"), ("2", "tuesday"), ("3", "wednesday"), ("4", "thursday"), ("5", "friday"),
    ("6", "saturday"), ("7", "sunday"), ("MONDAY", "monday"), ("mon", "monday"), ("Tu", "tuesday"),
    ("weds", "wednesday"), ("THU", "thursday"), ("Fri.", "friday"), ("sat", "saturday"), ("Sun", "sunday")])
def test_a_typed_number_counts_from_monday_as_1_and_day_names_work_in_any_case_at_onboarding(
        engine: Engine, typed: str, day: str) -> None:
    chat = at_review_day(engine)
    chat.send(typed)
    assert stored(chat) == [day]
    assert chat.state == "timezone"


@pytest.mark.parametrize("typed", ["0", "8", "10", "someday", "the weekend", "t"])
def test_a_number_outside_1_to_7_or_no_day_is_asked_again_saying_how_numbers_count(
        engine: Engine, typed: str) -> None:
    chat = at_review_day(engine)
    replies = chat.send(typed)
    assert stored(chat) == [] and chat.state == "review_day"
    assert any("1 is Monday and 7 is Sunday" in text for text in replies)


@pytest.mark.parametrize("day", WEEKDAYS)
def test_each_days_button_stores_that_day(engine: Engine, day: str) -> None:
    chat = at_review_day(engine)
    question = next(e for e in chat.last if isinstance(e, Reply) and e.question)
    assert [b.value for b in question.options] == list(WEEKDAYS)
    chat.press(day)
    assert stored(chat) == [day]


def test_settings_read_a_typed_1_as_monday_and_0_as_not_a_day(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("settings")
    onboarded_chat.send("skip")
    onboarded_chat.send("skip")
    replies = onboarded_chat.send("0")
    assert stored(onboarded_chat) == [] and any("1 is Monday" in text for text in replies)
    replies = onboarded_chat.send("1")
    assert stored(onboarded_chat) == ["monday"]
    assert any("Your weekly review will now come on Monday." in text for text in replies)


@pytest.mark.parametrize("value,index", [
    ("monday", 0), ("Sunday", 6), ("wednesday", 2), (0, 0), (6, 6), (3.0, 3), ("1", None), (7, None),
    (-1, None), (True, None), ("mon", None), (2.5, None)])
def test_a_review_day_answer_becomes_a_weekday_only_when_it_names_one(
        value: object, index: int | None) -> None:
    assert weekday_index(value) == index


@pytest.mark.parametrize("first", [1, 10])
def test_a_review_day_question_whose_values_are_not_days_is_refused_by_validation(
        tmp_path: Path, first: int) -> None:
    dialogs = tmp_path / "dialogs"
    shutil.copytree(DIALOGS, dialogs)
    settings = dialogs / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    for number, day in enumerate(WEEKDAYS, start=first):  # 1-7 would drop Sunday; 10-16 every day
        text = text.replace(f"{{value: {day},", f"{{value: {number},")
    settings.write_text(text, encoding="utf-8")
    problems = check_path(dialogs)
    assert [(p.file, p.state) for p in problems] == [("dialogs/settings.yaml", "weekly_review_day")]
    assert "day names" in problems[0].message


def test_a_review_day_question_numbered_from_0_as_before_day_names_still_loads(tmp_path: Path) -> None:
    """A set that ran before this change (and may be the stored last good set) never stops a start."""
    dialogs = tmp_path / "dialogs"
    shutil.copytree(DIALOGS, dialogs)
    for name in ("settings.yaml", "onboarding.yaml"):
        path = dialogs / name
        text = path.read_text(encoding="utf-8")
        for number, day in enumerate(WEEKDAYS):
            text = text.replace(f"{{value: {day},", f"{{value: {number},")
        path.write_text(text, encoding="utf-8")
    assert check_path(dialogs) == []
