"""A red flag typed as free text at any onboarding question: the 999 or same-day message and the
coach's alert come first, then setting up carries on at the question the patient was on, so they end
onboarded with a check-in time and a usual pain and mood (issue 14 item 7, the free-text road)."""

from __future__ import annotations

import pytest

from coachbot.engine import DialogEnded, Engine, Escalate, Reply, SafetyTriggered, UpdateProfile
from tests.support.engine_driver import EngineChat

ANSWERS = ["hello", "yes", "Alex", "no", "no", "6", "four", "no", "working", "8am", "weds", "UK"]
QUESTIONS = ["consent", "name", "rf_emergency", "rf_urgent", "pain_usual", "mood_usual", "neuropathy",
             "work_status", "checkin_time", "review_day", "timezone"]
"""The onboarding question each prefix of ANSWERS leaves the patient on (ANSWERS[:1] -> consent)."""
RED_FLAGS = [
    ("I can't control my bladder", "urgent", "red_flag_emergency", "call 999 or go to A&E now"),
    ("numb between my legs", "urgent", "red_flag_emergency", "call 999 or go to A&E now"),
    ("my leg has gone weak", "soon", "red_flag_urgent", "urgent appointment today"),
]


@pytest.mark.parametrize("red_flag", RED_FLAGS, ids=[flag[0] for flag in RED_FLAGS])
@pytest.mark.parametrize("at", range(1, len(QUESTIONS) + 1), ids=QUESTIONS)
def test_a_red_flag_typed_at_any_onboarding_question_is_answered_and_setting_up_still_finishes(
        engine: Engine, at: int, red_flag: tuple[str, str, str, str]) -> None:
    typed, tier, rule, advice = red_flag
    chat = EngineChat(engine)
    for text in ANSWERS[:at]:
        chat.send(text)
    question = chat.state
    assert question == QUESTIONS[at - 1]
    [first_asked] = [e.text for e in chat.last if isinstance(e, Reply) and e.question]

    replies = chat.send(typed)

    assert chat.of_type(SafetyTriggered), "the red flag was heard"
    assert [(e.tier, e.rule) for e in chat.of_type(Escalate)] == [(tier, rule)]
    assert advice in replies[0], "the safety advice comes first"
    resumes = next(i for i, text in enumerate(replies) if "finish setting up" in text)
    assert resumes > 0 and replies[-1] != replies[resumes], "then the question again, last"
    asked = [e for e in chat.last if isinstance(e, Reply) and e.question]
    assert [(e.question, e.text) for e in asked] == [(question, first_asked)], "the question itself again"
    assert chat.position is not None and (chat.position.script, chat.state) == ("onboarding", question)

    for text in ANSWERS[at:]:
        chat.send(text)
    profile = {e.field: e.value for e in chat.effects if isinstance(e, UpdateProfile)}
    assert profile["checkin_time"] == "08:00" and profile["timezone"] == "Europe/London"
    assert profile["name"] == "Alex" and profile["consent"] == 1
    assert chat.measures()["pain_usual"] == 6 and chat.measures()["mood_usual"] == 4
    assert DialogEnded("onboarding", completed=True) in chat.effects
    assert chat.position is None


def test_the_red_flag_is_never_kept_as_the_answer_to_the_question_it_interrupted(engine: Engine) -> None:
    chat = EngineChat(engine)
    for text in ANSWERS[:2]:
        chat.send(text)
    assert chat.state == "name"
    chat.send("numb between my legs")
    assert not chat.of_type(UpdateProfile), "not stored as the name"
    chat.send("Alex")
    assert [e.value for e in chat.of_type(UpdateProfile)] == ["Alex"]


def test_a_crisis_during_onboarding_still_keeps_its_own_flow_open(engine: Engine) -> None:
    """Only flows that end at once hand back: the crisis flow's questions come first."""
    chat = EngineChat(engine)
    for text in ANSWERS[:6]:
        chat.send(text)
    chat.send("I want to kill myself")
    assert chat.position is not None and chat.position.script == "crisis"
    assert not any("finish setting up" in e.text for e in chat.last if isinstance(e, Reply))


def test_a_red_flag_as_the_very_first_message_gets_its_advice_and_the_next_message_starts_setting_up(
        engine: Engine) -> None:
    chat = EngineChat(engine)
    replies = chat.send("numb between my legs")
    assert "call 999 or go to A&E now" in replies[0]
    assert not any("finish setting up" in text for text in replies), "there is no question to go back to"
    assert chat.position is None
    replies = chat.send("hello")
    assert replies[0].startswith("Hello, and welcome.") and chat.state == "consent"


def test_a_red_flag_during_a_checkin_does_not_go_back_to_the_checkin(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    replies = onboarded_chat.send("numb between my legs")
    assert "call 999 or go to A&E now" in replies[0]
    assert not any("finish setting up" in text for text in replies)
    assert onboarded_chat.position is None
