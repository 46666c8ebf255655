"""Edges of the safety pre-emption that mutation testing showed no test watched (docs/safety.md,
"Mutation testing"): a scheduled dialog never displaces a safety flow or a stopped patient's place,
and an answer that repeats the crisis words still answers the crisis question."""

from __future__ import annotations

from coachbot.engine import DialogEnded, Engine, PatientContext, Position, RecordMeasure, StartDialog
from coachbot.engine.runner import URGENT_OPEN
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
