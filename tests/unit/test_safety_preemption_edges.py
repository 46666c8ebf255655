"""Edges of the safety pre-emption that mutation testing showed no test watched (docs/safety.md,
"Mutation testing"): a scheduled dialog never displaces a safety flow or a stopped patient's place,
an answer that repeats the crisis words still answers the crisis question, a crisis moves a patient
out of a red-flag flow, and a request for a person is heard whatever the patient's status."""

from __future__ import annotations

import dataclasses

from coachbot.engine import (
    DialogEnded,
    Engine,
    Escalate,
    PatientContext,
    Position,
    RecordMeasure,
    Reply,
    SafetyTriggered,
    StartDialog,
    TextMessage,
)
from coachbot.engine.runner import URGENT_OPEN
from coachbot.spec.library import DialogLibrary
from tests.support.engine_driver import NOW, EngineChat

CRISIS_PHRASE = "honestly i just want to die"
ONBOARDED = PatientContext(status="active", name="Sam", facts={"onboarded": 1, "days_in_care": 10})


def test_a_scheduled_check_in_never_replaces_a_running_crisis_flow(chat: EngineChat, engine: Engine) -> None:
    chat.send(CRISIS_PHRASE)
    in_crisis = chat.position
    assert in_crisis is not None and in_crisis.script == "crisis"
    outcome = engine.handle(ONBOARDED, in_crisis, StartDialog("daily_checkin"), NOW)
    assert outcome.position == in_crisis, "the crisis flow keeps its place, question and answers"
    assert outcome.effects == (), "nothing is said over the crisis questions"


def test_a_scheduled_check_in_keeps_a_stopped_patients_place_and_says_nothing(engine: Engine) -> None:
    stopped = PatientContext(status="stopped", facts={"onboarded": 1})
    where = Position(script="daily_checkin", version=1, state="opening")
    outcome = engine.handle(stopped, where, StartDialog("daily_checkin"), NOW)
    assert outcome.position == where and outcome.effects == ()


def test_a_scheduled_dialog_closes_the_unfinished_one_before_it_starts(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    running = onboarded_chat.position
    assert running is not None
    onboarded_chat.start("daily_checkin")
    ended = [e for e in onboarded_chat.last if isinstance(e, DialogEnded)]
    assert ended[:1] == [DialogEnded(script=running.script, completed=False)]


def test_a_yes_that_repeats_the_crisis_words_answers_the_crisis_question(chat: EngineChat) -> None:
    chat.send(CRISIS_PHRASE)
    assert chat.state == "crisis_thoughts"
    chat.send("yes, I want to die")
    assert chat.position is not None and chat.position.script == "crisis"
    assert chat.state == "crisis_plan", "the answer moved the flow on instead of restarting it"
    recorded = RecordMeasure(code="crisis_thoughts", value=1, script="crisis", state="crisis_thoughts")
    assert recorded in chat.last


def test_words_outside_a_dialog_while_an_urgent_alert_is_open_offer_no_steps(engine: Engine) -> None:
    facts = {"onboarded": 1, "days_in_care": 4, "open_step": 0}
    usual = EngineChat(engine, context=PatientContext(status="active", name="Sam", facts=facts))
    waiting = EngineChat(engine, context=PatientContext(status="active", name="Sam",
                                                        facts={**facts, URGENT_OPEN: 1}))
    for text in ("I feel fine now", "/start"):
        [said] = usual.send(text)
        assert said == engine.messages.idle and "/steps" in said
        [said] = waiting.send(text)
        assert said == engine.messages.idle_while_alert_open and "/steps" not in said


# ---------------------------------------------------------------- which flow a new statement of risk opens


def test_a_crisis_during_the_safeguarding_flow_moves_to_the_crisis_flow(onboarded_chat: EngineChat) -> None:
    # The red-flag flows ask nothing, so they never hold a patient's place; safeguarding does, and
    # abuse ranks below a crisis just as the red flags do.
    onboarded_chat.send("my husband hits me")
    assert onboarded_chat.position is not None and onboarded_chat.position.script == "safeguarding"
    replies = onboarded_chat.send(CRISIS_PHRASE)
    assert onboarded_chat.position is not None and onboarded_chat.position.script == "crisis"
    assert "116 123" in replies[0]
    assert DialogEnded(script="safeguarding", completed=False) in onboarded_chat.last


def test_words_of_risk_that_answer_nothing_in_the_crisis_flow_show_its_resources_again(
        onboarded_chat: EngineChat) -> None:
    # Only a real answer to the flow's question is taken as one: a new statement of risk that answers
    # nothing starts the flow again, resources first, instead of a re-ask of the question.
    onboarded_chat.send(CRISIS_PHRASE)
    assert onboarded_chat.position is not None and onboarded_chat.position.script == "crisis"
    replies = onboarded_chat.send(CRISIS_PHRASE)
    assert onboarded_chat.position is not None and onboarded_chat.position.script == "crisis"
    assert DialogEnded(script="crisis", completed=False) in onboarded_chat.last
    assert "116 123" in replies[0]


def test_the_dialog_a_safety_flow_interrupts_is_closed_as_unfinished(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    onboarded_chat.send(CRISIS_PHRASE)
    assert isinstance(onboarded_chat.last[0], SafetyTriggered)
    assert onboarded_chat.last[1] == DialogEnded(script="daily_checkin", completed=False)


def test_the_line_in_the_patients_language_comes_right_after_the_english_resources(chat: EngineChat) -> None:
    chat.send("chcę umrzeć")
    effects = chat.last
    first = next(i for i, e in enumerate(effects) if isinstance(e, Reply))
    assert "116 123" in effects[first].text  # type: ignore[attr-defined]
    following = effects[first + 1]
    assert isinstance(following, Reply) and following.text.startswith("Po polsku:")


def test_a_safety_flow_whose_state_was_removed_starts_again_from_its_resources(engine: Engine) -> None:
    crisis = engine.library.script("crisis")
    assert crisis is not None
    lost = Position(script="crisis", version=crisis.version, state="a_state_since_removed")
    outcome = engine.handle(ONBOARDED, lost, TextMessage(CRISIS_PHRASE), NOW)
    assert outcome.position is not None and outcome.position.script == "crisis"
    assert outcome.position.state == "crisis_thoughts"
    assert DialogEnded(script="crisis", completed=False) in outcome.effects
    assert any(isinstance(e, Reply) and "116 123" in e.text for e in outcome.effects)


def test_a_kind_with_no_safety_dialog_keeps_the_patients_place(library: DialogLibrary) -> None:
    preempt = {k: v for k, v in library.service.preempt.items() if k != "abuse"}
    service = library.service.model_copy(update={"preempt": preempt})
    engine = Engine(dataclasses.replace(library, service=service))
    chat = EngineChat(engine, context=ONBOARDED)
    chat.start("daily_checkin")
    where = chat.position
    assert where is not None
    chat.send("my husband hits me")
    assert [type(e) for e in chat.last] == [SafetyTriggered]
    assert chat.position == where


# ---------------------------------------------------------------- asking for a person, stopped, stale, idle

STOPPED = PatientContext(status="stopped", name="Sam", facts={"onboarded": 1})
PERSON = "can someone ring me please"


def test_asking_for_a_person_before_onboarding_is_heard_and_onboarding_still_starts(chat: EngineChat,
                                                                                    engine: Engine) -> None:
    replies = chat.send(PERSON)
    assert replies[0] == engine.messages.person_asked.strip() or replies[0] == engine.messages.person_asked
    assert chat.position is not None and chat.position.script == engine.library.service.entry
    escalations = [e for e in chat.last if isinstance(e, Escalate)]
    assert escalations == [Escalate(tier="routine", rule="asks_for_person",
                                    reason=engine.messages.person_asked_reason, evidence={})]


def test_a_stopped_patient_asking_for_a_person_is_heard_and_keeps_their_place(engine: Engine) -> None:
    where = Position(script="daily_checkin", version=1, state="opening")
    outcome = engine.handle(STOPPED, where, TextMessage(PERSON), NOW)
    assert outcome.position == where
    replies = [e.text for e in outcome.effects if isinstance(e, Reply)]
    assert replies == [engine.messages.person_asked], "heard, and no 'your messages are stopped' after it"


def test_a_stopped_patient_in_the_crisis_flow_asking_for_a_person_still_answers_the_question(
        engine: Engine) -> None:
    chat = EngineChat(engine, context=STOPPED)
    chat.send(CRISIS_PHRASE)
    assert chat.state == "crisis_thoughts"
    replies = chat.send("yes, can someone ring me please")
    assert replies[0] == engine.messages.person_asked
    assert chat.state == "crisis_plan", "the answer still moved the crisis flow on"


def test_a_stopped_patients_plain_message_gets_the_stopped_reply_and_keeps_their_place(
        engine: Engine) -> None:
    where = Position(script="daily_checkin", version=1, state="opening")
    outcome = engine.handle(STOPPED, where, TextMessage("hello there"), NOW)
    assert outcome.position == where
    assert [e.text for e in outcome.effects if isinstance(e, Reply)] == [engine.messages.stopped_reply]


def test_a_button_of_an_answered_question_says_it_no_longer_works(onboarded_chat: EngineChat,
                                                                  engine: Engine) -> None:
    onboarded_chat.start("daily_checkin")
    assert onboarded_chat.press("3", state="a_question_already_answered") == [engine.messages.stale_button]


def test_a_message_outside_any_dialog_gets_the_idle_reply(onboarded_chat: EngineChat, engine: Engine) -> None:
    assert onboarded_chat.send("hello there") == [engine.messages.idle]
    assert onboarded_chat.position is None
