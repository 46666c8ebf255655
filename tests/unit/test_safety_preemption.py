"""Hazard controls: crisis and red-flag words pre-empt every dialog, resources come first, coach told.

Each test is named after the hazard it controls, so the clinical safety case can cite it.
"""

from __future__ import annotations

import dataclasses

import pytest

from coachbot.engine import (
    Engine,
    Escalate,
    PatientContext,
    Position,
    Reply,
    SafetyTriggered,
    TextMessage,
)
from coachbot.spec.library import DialogLibrary
from tests.support.engine_driver import NOW, EngineChat

CRISIS_PHRASE = "honestly i just want to die"
CRISIS_RESOURCES = ("116 123", "999", "85258")


def question_positions(library: DialogLibrary) -> list[Position]:
    """Every question state of every non-safety script, as a position waiting for its answer."""
    safety = set(library.service.preempt.values())
    return [Position(script=s.name, version=s.version, state=name)
            for s in library.scripts.values() if s.name not in safety
            for name, state in s.states.items() if state.ask is not None]


def test_every_question_of_every_script_is_covered(library: DialogLibrary) -> None:
    assert len(question_positions(library)) >= 30


def test_crisis_phrase_mid_question_starts_crisis_flow(engine: Engine, library: DialogLibrary) -> None:
    context = PatientContext(status="active", facts={"onboarded": 1, "days_in_care": 3})
    for position in question_positions(library):
        outcome = engine.handle(context, position, TextMessage(CRISIS_PHRASE), NOW)
        replies = [e for e in outcome.effects if isinstance(e, Reply)]
        where = f"{position.script}/{position.state}"
        assert outcome.position is not None and outcome.position.script == "crisis", where
        assert all(number in replies[0].text for number in CRISIS_RESOURCES), where
        assert replies[0].question is None, f"{where}: resources come before any question"
        assert any(isinstance(e, Escalate) and e.tier == "urgent" and e.rule == "crisis"
                   for e in outcome.effects), where


def test_crisis_on_the_very_first_message_before_consent_gets_resources(chat: EngineChat) -> None:
    replies = chat.send("i cant go on anymore, i want to end it all")
    assert chat.position is not None and chat.position.script == "crisis"
    assert "116 123" in replies[0]


def test_stopped_patient_in_crisis_still_gets_resources(onboarded_chat: EngineChat) -> None:
    onboarded_chat.send("stop")
    replies = onboarded_chat.send("I took an overdose")
    assert "116 123" in replies[0]
    assert onboarded_chat.context.status == "stopped", "safety does not silently restart coaching"


def test_safety_trigger_names_the_rule_never_the_text(chat: EngineChat) -> None:
    chat.send(CRISIS_PHRASE)
    trigger = next(e for e in chat.effects if isinstance(e, SafetyTriggered))
    assert trigger.kind == "crisis"
    assert CRISIS_PHRASE not in repr(trigger) and "want to die" not in trigger.rule


def test_no_in_crisis_flow_does_not_close_it_silently(chat: EngineChat) -> None:
    chat.send(CRISIS_PHRASE)
    replies = chat.send("no")
    assert replies, "a no gets an answer"
    assert any("116 123" in text for text in replies), "resources are restated on a no"


def test_unclear_text_in_crisis_flow_repeats_resources_not_a_bare_reask(chat: EngineChat) -> None:
    chat.send(CRISIS_PHRASE)
    replies = chat.send("i dont want to be here anymore")
    assert "116 123" in replies[0]


def test_emergency_red_flag_in_free_text_sends_999_message_first(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    replies = onboarded_chat.send("i have lost control of my bladder")
    assert "999" in replies[0]
    assert any(isinstance(e, Escalate) and e.tier == "urgent" for e in onboarded_chat.effects)


def test_emergency_red_flag_answer_in_onboarding_escalates_urgent(chat: EngineChat) -> None:
    for text in ["hi", "yes", "Alex"]:
        chat.send(text)
    replies = chat.send("yes")
    assert "999" in replies[0]
    assert any(isinstance(e, Escalate) and e.tier == "urgent" and e.rule == "red_flag_emergency"
               for e in chat.effects)


def test_abuse_disclosure_starts_safeguarding(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    replies = onboarded_chat.send("my partner hits me when he drinks")
    assert any(isinstance(e, Escalate) and e.rule == "abuse" for e in onboarded_chat.effects)
    assert "0808 2000 247" in " ".join(replies)


@pytest.mark.parametrize("text", ["/help", "skip", "stop"])
def test_commands_during_crisis_flow_still_show_where_to_get_help(chat: EngineChat, text: str) -> None:
    chat.send(CRISIS_PHRASE)
    replies = chat.send(text)
    assert any("999" in reply for reply in replies), replies


def test_pause_during_crisis_flow_keeps_the_flow_open(chat: EngineChat) -> None:
    chat.send(CRISIS_PHRASE)
    chat.send("pause")
    assert chat.position is not None and chat.position.script == "crisis"


# ---------------------------------------------------------------- overdose, self-harm, languages, ranking


@pytest.mark.parametrize(
    "text",
    ["I swallowed a whole box of ibuprofen", "took my entire week of tablets", "i od'd on paracetamol"],
)
def test_overdose_already_taken_answers_a_and_e_first(onboarded_chat: EngineChat, text: str) -> None:
    onboarded_chat.start("daily_checkin")
    replies = onboarded_chat.send(text)
    assert onboarded_chat.position is not None and onboarded_chat.position.script == "overdose"
    first = replies[0]
    assert first.startswith("Please go to A&E now or call 999, even if you feel well.")
    assert "paracetamol" in first and first.index("A&E") < first.index("116 123")
    assert all(number in first for number in CRISIS_RESOURCES)
    assert any(isinstance(e, Escalate) and e.tier == "urgent" and e.rule == "crisis"
               for e in onboarded_chat.effects)


def test_no_in_the_overdose_flow_repeats_a_and_e_and_the_resources(chat: EngineChat) -> None:
    chat.send("I took all my pills")
    replies = chat.send("no")
    joined = " ".join(replies)
    assert "999" in joined and "even if you feel well" in joined and "116 123" in joined


def test_self_harm_disclosure_gets_wound_advice_and_the_resources(chat: EngineChat) -> None:
    replies = chat.send("I cut myself last night")
    assert chat.position is not None and chat.position.script == "self_harm"
    first = replies[0]
    assert "bleeding heavily" in first and "call 999" in first and "NHS 111" in first
    assert all(number in first for number in CRISIS_RESOURCES)
    assert any(isinstance(e, Escalate) and e.tier == "urgent" for e in chat.effects)


def test_an_overdose_told_during_the_crisis_flow_moves_to_a_and_e(chat: EngineChat) -> None:
    chat.send(CRISIS_PHRASE)
    replies = chat.send("I already took a whole packet of paracetamol")
    assert chat.position is not None and chat.position.script == "overdose"
    assert replies[0].startswith("Please go to A&E now")


def test_a_crisis_told_during_the_overdose_flow_keeps_the_overdose_flow(chat: EngineChat) -> None:
    chat.send("I took all my pills")
    replies = chat.send("i want to die")
    assert chat.position is not None and chat.position.script == "overdose"
    assert "even if you feel well" in replies[0]


def test_a_refined_kind_without_its_own_dialog_is_answered_by_the_crisis_flow(library: DialogLibrary) -> None:
    preempt = {k: v for k, v in library.service.preempt.items() if k not in ("overdose", "self_harm")}
    service = library.service.model_copy(update={"preempt": preempt})
    chat = EngineChat(Engine(dataclasses.replace(library, service=service)))
    replies = chat.send("I swallowed a whole box of ibuprofen")
    assert chat.position is not None and chat.position.script == "crisis"
    assert "116 123" in replies[0]
    replies = chat.send("and I cut myself")
    assert chat.position is not None and chat.position.script == "crisis"
    assert "116 123" in replies[0], "the same flow shows its resources again"


@pytest.mark.parametrize(
    ("text", "line_start"),
    [
        ("chcę umrzeć", "Po polsku:"),
        ("vreau să mor", "În română:"),
        ("quero morrer", "Em português:"),
        ("dw i eisiau marw", "Yn Gymraeg:"),
        ("میں مرنا چاہتا ہوں", "اردو میں:"),
        ("ਮੈਂ ਮਰਨਾ ਚਾਹੁੰਦਾ ਹਾਂ", "ਪੰਜਾਬੀ ਵਿੱਚ:"),
        ("main marna chahta hoon", "Urdu mein:"),
    ],
)
def test_crisis_in_another_language_adds_one_line_in_it_after_the_english_resources(
    chat: EngineChat, text: str, line_start: str
) -> None:
    replies = chat.send(text)
    assert chat.position is not None and chat.position.script == "crisis"
    assert all(number in replies[0] for number in CRISIS_RESOURCES), "the English resources come first"
    assert replies[1].startswith(line_start) and "999" in replies[1] and "116 123" in replies[1]
    assert len([r for r in replies if r.startswith(line_start)]) == 1


def test_an_english_crisis_gets_no_extra_language_line(chat: EngineChat) -> None:
    replies = chat.send(CRISIS_PHRASE)
    assert not any(r.startswith(("Po polsku", "Em português", "Urdu mein")) for r in replies)


def test_one_leg_weakness_gets_the_same_day_gp_answer_and_no_exercise(onboarded_chat: EngineChat) -> None:
    replies = onboarded_chat.send("my left leg has gone weak and my foot keeps catching")
    assert onboarded_chat.position is None or onboarded_chat.position.script == "red_flag_urgent"
    first = replies[0]
    assert "GP" in first and "today" in first and "NHS 111" in first and "exercise" in first
    assert any(isinstance(e, Escalate) and e.rule == "red_flag_urgent" for e in onboarded_chat.effects)


def test_minor_fall_is_not_an_emergency(onboarded_chat: EngineChat) -> None:
    onboarded_chat.send("tripped on the stairs, nothing broken")
    assert not any(isinstance(e, SafetyTriggered) for e in onboarded_chat.effects)
