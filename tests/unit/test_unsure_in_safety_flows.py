"""An unsure or unclear answer to a safety question is never met with a bare "Please tap Yes or No":
the re-ask says what to do when unsure (the cautious answer) and where help is, and the question stays
open. Found by trying the crisis flow as a patient in the terminal chat ("maybe", "not sure")."""

from __future__ import annotations

import pytest

from coachbot.engine import Engine, PatientContext, Reply
from tests.support.engine_driver import EngineChat

BARE = "Please tap Yes or No, or type yes or no."


def in_care(engine: Engine) -> EngineChat:
    return EngineChat(engine, context=PatientContext(
        status="active", name="Sam", facts={"onboarded": 1, "days_in_care": 5, "open_step": 0}))


QUESTIONS = [
    ("I want to end my life", [], "crisis", "crisis_thoughts", "116 123"),
    ("I want to end my life", ["yes"], "crisis", "crisis_plan", "116 123"),
    ("I want to end my life", ["yes", "yes"], "crisis", "crisis_means", "999"),
    ("I cut myself last night", [], "self_harm", "thoughts", "116 123"),
    ("I swallowed a whole box of paracetamol", [], "overdose", "getting_help", "even if you feel well"),
    ("my partner hits me", [], "safeguarding", "safe_now", "press 55"),
]
"""(the words that start the flow, the answers before the question, script, question, a help line)"""


@pytest.mark.parametrize("question", QUESTIONS, ids=[f"{q[2]}-{q[3]}" for q in QUESTIONS])
@pytest.mark.parametrize("unsure", ["maybe", "not sure", "I don't know"])
def test_an_unsure_answer_to_a_safety_question_gets_what_to_do_and_where_help_is(
        engine: Engine, question: tuple[str, list[str], str, str, str], unsure: str) -> None:
    opening, answers, script, state, help_line = question
    chat = in_care(engine)
    chat.send(opening)
    for answer in answers:
        chat.send(answer)
    assert chat.position is not None and chat.position.script == script
    asked = chat.position.state
    assert asked == state
    replies = chat.send(unsure)
    assert chat.position is not None and chat.position.state == asked, "the question stays open"
    assert BARE not in replies and any(help_line in text for text in replies)
    assert [e.question for e in chat.last if isinstance(e, Reply) and e.question] == [asked]
