"""Hazard: a patient who sent `stop` and then says words of risk cannot answer the crisis questions.
The crisis flow is always answerable, whatever the patient's status, and stopping stays in force."""

from __future__ import annotations

from coachbot.engine import RecordMeasure
from tests.support.engine_driver import EngineChat


def test_a_stopped_patient_can_answer_the_crisis_questions(onboarded_chat: EngineChat) -> None:
    onboarded_chat.send("stop")
    onboarded_chat.send("I want to kill myself")
    replies = onboarded_chat.send("yes")
    assert not any("Your messages are stopped" in text for text in replies)
    assert any("plan to end your life" in text for text in replies), replies
    recorded = [e for e in onboarded_chat.effects if isinstance(e, RecordMeasure)]
    assert ("crisis_thoughts", 1) in [(e.code, e.value) for e in recorded]
    assert onboarded_chat.context.status == "stopped", "answering the safety flow does not restart coaching"


def test_a_stopped_patient_who_answers_all_crisis_questions_reaches_the_end_of_the_flow(
        onboarded_chat: EngineChat) -> None:
    onboarded_chat.send("stop")
    onboarded_chat.send("I want to kill myself")
    onboarded_chat.send("yes")
    onboarded_chat.send("yes")
    replies = onboarded_chat.send("yes")
    assert any("call 999 or go to A&E now" in text for text in replies), replies


def test_a_stopped_patient_outside_a_safety_flow_is_still_told_messages_are_stopped(
        onboarded_chat: EngineChat) -> None:
    onboarded_chat.send("stop")
    replies = onboarded_chat.send("4")
    assert any("Your messages are stopped" in text for text in replies)
