"""Asking for a person: the matcher (care/person_request.py) and the engine raising `asks_for_person`.

Over-asking costs a routine card; a missed request leaves someone who asked for a human with none.
"""

from __future__ import annotations

import pytest

from coachbot.care.person_request import asks_for_person
from coachbot.engine import Engine, Escalate, PatientContext, RecordMeasure
from tests.support.engine_driver import EngineChat

ASKS = [
    "can someone ring me", "I need to speak to a real person", "Could my coach phone me back?",
    "is there a human I can talk to", "please call me", "call me back please",
    "I'd like someone to contact me", "ring me", "Can I talk to someone?", "I want a real person",
    "give me a ring when you can", "am I talking to a bot?", "Can't someone just call me",
    "I would like to speak with my coach", "Please could somebody get in touch with me",
    "can I speak to a human", "are you a real person", "is anyone there", "RING ME PLS",
    "I\u2019d really like a chat with someone", "can my coach call me",
]
DOES_NOT_ASK = [
    "call me Sam", "Call me Al", "I talked to my coach yesterday", "the hospital will ring me",
    "if I need to talk to someone", "No better after a week: ring the GP", "please don't ring me",
    "I don't want to talk to anyone", "my back is killing me today", "My sister Jo",
    "Hot shower and slow walks", "skip", "no", "my wife called me lazy", "I called my mum",
    "the physio is going to phone me next week",
]


@pytest.mark.parametrize("text", ASKS)
def test_a_request_for_a_person_in_any_common_wording_is_recognised(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize("text", DOES_NOT_ASK)
def test_names_plans_past_events_and_refusals_are_not_requests_for_a_person(text: str) -> None:
    assert not asks_for_person(text)


def test_asking_for_a_person_never_raises_on_any_text() -> None:
    for text in ["", " ", "\u200b", "ring" * 5000, "me me me", "🙂📞", "call\nme\nback"]:
        asks_for_person(text)


def test_asking_for_a_person_outside_a_dialog_raises_asks_for_person_instead_of_the_idle_answer(
        engine: Engine) -> None:
    chat = EngineChat(engine, PatientContext(status="active", name="Alex", facts={"onboarded": 1.0}))
    said = chat.send("can someone ring me please")
    [raised] = chat.of_type(Escalate)
    assert (raised.rule, raised.tier) == ("asks_for_person", "routine") and raised.evidence == {}
    assert len(said) == 1 and "get in touch" in said[0] and engine.messages.idle not in said


def test_a_note_asking_for_a_person_is_stored_and_raises_asks_for_person(engine: Engine) -> None:
    chat = EngineChat(engine, PatientContext(status="active", name="Alex",
                                             facts={"onboarded": 1.0, "days_in_care": 9.0, "open_step": 0.0}))
    chat.start("daily_checkin")
    chat.send("4")
    chat.send("5")
    assert chat.state == "note"
    said = chat.send("I need to speak to a real person about my job")
    assert chat.measures()["note"] == "I need to speak to a real person about my job"
    assert [e.rule for e in chat.of_type(Escalate)] == ["asks_for_person"]
    assert "get in touch" in said[0] and "check-in done" in said[-1]


def test_asking_for_a_person_at_a_number_question_raises_it_and_asks_the_question_again(
        engine: Engine) -> None:
    chat = EngineChat(engine, PatientContext(status="active", name="Alex",
                                             facts={"onboarded": 1.0, "days_in_care": 9.0, "open_step": 0.0}))
    chat.start("daily_checkin")
    said = chat.send("I want to talk to my coach")
    assert [e.rule for e in chat.of_type(Escalate)] == ["asks_for_person"]
    assert chat.state == "pain_now" and not chat.of_type(RecordMeasure)
    assert "get in touch" in said[0] and "number from 0 to 10" in said[-1]


def test_a_stopped_patient_who_asks_for_a_person_is_heard(engine: Engine) -> None:
    chat = EngineChat(engine, PatientContext(status="stopped", name="Alex"))
    said = chat.send("please call me")
    assert [e.rule for e in chat.of_type(Escalate)] == ["asks_for_person"] and "get in touch" in said[0]
